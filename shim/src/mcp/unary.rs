//! One call to a daemon service, the same for every tool family: the channel from the daemon
//! link, one retry when the call never reached the daemon (it restarted between calls),
//! `daemon_stopped` when the connection broke after the request went out, and an early return
//! when the client cancels (dropping the call tells the daemon to stop). Each family says how its
//! error statuses read (`on_status`). A long call (a command, a transfer) is opened the same way
//! and its server stream then read with [`SshMcp::next_event`].

use std::future::Future;

use rmcp::RoleServer;
use rmcp::model::{CallToolResponse, CallToolResult};
use rmcp::service::RequestContext;
use tonic::transport::Channel;

use crate::daemon_link::{is_broken_connection, is_transport_failure};
use crate::mcp::{SshMcp, approval, result};

impl SshMcp {
    /// Calls `call` on a client that `client` makes from the daemon channel.
    /// When the daemon answers with a question for a person, the person is asked (see
    /// `approval`) and the call sent again with the answer; `resumed` is the answer a client
    /// brought back to a question asked in an `input_required` result.
    pub(crate) async fn unary<C, T, F, Fut>(
        &self,
        ctx: &RequestContext<RoleServer>,
        resumed: Option<approval::Resumed>,
        client: impl Fn(Channel) -> C,
        call: F,
        on_status: fn(&tonic::Status) -> CallToolResult,
    ) -> Result<T, CallToolResponse>
    where
        F: Fn(C, Option<String>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut retried = false;
        // The person's answer to the daemon's question, sent with the call once more.
        let mut approval: Option<String> = resumed.map(|r| r.header());
        loop {
            let channel = match self.link.channel().await {
                Ok(c) => c,
                Err(e) => return Err(result::unreachable(&e).into()),
            };
            let answer = tokio::select! {
                a = call(client(channel), approval.clone()) => a,
                _ = ctx.ct.cancelled() => return Err(result::failure("cancelled", "the call was cancelled".into()).into()),
            };
            match answer {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) if !retried && is_transport_failure(&status) => {
                    tracing::info!("daemon connection lost; reconnecting once: {status}");
                    self.link.reset().await;
                    retried = true;
                }
                Err(status) if !is_transport_failure(&status) && is_broken_connection(&status) => {
                    self.link.reset().await;
                    return Err(result::daemon_stopped().into());
                }
                Err(status) if approval.is_none() => match approval::challenge(&status) {
                    Some(challenge) => match approval::ask(ctx, status.message(), &challenge).await
                    {
                        approval::Asked::Answer(answer) => {
                            approval = Some(answer.header(&challenge));
                        }
                        approval::Asked::Later(input_required) => {
                            return Err(input_required.into());
                        }
                    },
                    None => return Err(on_status(&status).into()),
                },
                Err(status) => return Err(on_status(&status).into()),
            }
        }
    }

    /// The next event of a long call's stream, or the tool result that ends the call: the client
    /// cancelled (the stream is dropped, which stops `what` on the daemon), the daemon ended the
    /// stream without a result, or the connection broke.
    pub(crate) async fn next_event<E>(
        &self,
        ctx: &RequestContext<RoleServer>,
        stream: &mut tonic::Streaming<E>,
        what: &str,
    ) -> Result<E, CallToolResult> {
        let message = tokio::select! {
            m = stream.message() => m,
            _ = ctx.ct.cancelled() => return Err(result::failure("cancelled", format!("the call was cancelled; {what} was stopped"))),
        };
        match message {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Err(result::failure(
                "daemon_unavailable",
                format!(
                    "the daemon ended the call without a result (it may have restarted); {what} \
                     may or may not have run"
                ),
            )),
            Err(status) if is_broken_connection(&status) => {
                tracing::warn!("the daemon connection broke during a call: {status}");
                self.link.reset().await;
                Err(result::daemon_stopped())
            }
            Err(status) => Err(result::from_status(&status)),
        }
    }
}
