//! One unary call to a daemon service, the same for every tool family: the channel from the
//! daemon link, one retry when the call never reached the daemon (it restarted between calls),
//! `daemon_stopped` when the connection broke after the request went out, and an early return
//! when the client cancels (dropping the call tells the daemon to stop waiting). Each family
//! says how its error statuses read (`on_status`).

use std::future::Future;

use rmcp::RoleServer;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use tonic::transport::Channel;

use crate::daemon_link::{is_broken_connection, is_transport_failure};
use crate::mcp::{SshMcp, result};

impl SshMcp {
    /// Calls `call` on a client that `client` makes from the daemon channel.
    pub(crate) async fn unary<C, T, F, Fut>(
        &self,
        ctx: &RequestContext<RoleServer>,
        client: impl Fn(Channel) -> C,
        call: F,
        on_status: fn(&tonic::Status) -> CallToolResult,
    ) -> Result<T, CallToolResult>
    where
        F: Fn(C) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut retried = false;
        loop {
            let channel = match self.link.channel().await {
                Ok(c) => c,
                Err(e) => return Err(result::unreachable(&e)),
            };
            let answer = tokio::select! {
                a = call(client(channel)) => a,
                _ = ctx.ct.cancelled() => return Err(result::failure("cancelled", "the call was cancelled".into())),
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
                    return Err(result::daemon_stopped());
                }
                Err(status) => return Err(on_status(&status)),
            }
        }
    }
}
