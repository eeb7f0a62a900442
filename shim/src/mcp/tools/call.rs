//! The one path from a tool's arguments to the daemon and back. A tool says what is its own
//! ([`Tool`]: the request its arguments make, the daemon method it calls; [`Unary`] or
//! [`Streamed`]: how the answer reads) and `SshMcp::call_unary` or `SshMcp::call_streamed`
//! does the rest the same way for all: the channel, the retry and cancellation of `unary.rs`,
//! the service's error types, and for a long call its progress notifications.

use std::future::Future;

use rmcp::model::{CallToolResponse, CallToolResult, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};
use ssh_mcp_wire::protocol;
use tonic::transport::Channel;

use crate::mcp::{SshMcp, result};

/// A daemon service: its client over the daemon channel (with the message sizes its answers
/// need) and how its error statuses read as tool errors.
pub(crate) trait Service {
    type Client: Send;

    fn client(channel: Channel) -> Self::Client;

    /// The tool result for an error status (the general mapping unless the service has its own
    /// error types).
    fn on_status(status: &tonic::Status) -> CallToolResult {
        result::from_status(status)
    }
}

/// One MCP tool call as the generic path sees it besides its arguments.
#[derive(Debug)]
pub(crate) struct Call {
    /// The tool's name, for the daemon's audit trail.
    pub tool: &'static str,
    /// The person's answer when this call is the retry of a question (2026-07-28).
    pub resumed: Option<crate::mcp::approval::Resumed>,
}

/// What a request may take from the call besides the arguments.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller<'a> {
    /// This shim's reader id (session reads keep one cursor per reader).
    pub reader_id: &'a str,
    /// The client asked for progress notifications.
    pub progress: bool,
}

/// A tool: its arguments become one request to one method of a daemon service.
pub(crate) trait Tool {
    type Args;
    type Service: Service;
    type Request: Clone + Send + Sync + 'static;
    type Reply: Send;

    /// The daemon request for these arguments (defaults filled, as the seed's tools had them).
    fn request(args: Self::Args, caller: Caller<'_>) -> Self::Request;

    /// Sends `request` to the tool's method.
    fn send(
        client: <Self::Service as Service>::Client,
        request: tonic::Request<Self::Request>,
    ) -> impl Future<Output = Result<tonic::Response<Self::Reply>, tonic::Status>> + Send;
}

/// `Tool::send` for a tool whose request goes to the method `$method` of its service's client.
macro_rules! sends_to {
    ($method:ident) => {
        async fn send(
            mut client: <Self::Service as $crate::mcp::tools::call::Service>::Client,
            request: tonic::Request<Self::Request>,
        ) -> Result<tonic::Response<Self::Reply>, tonic::Status> {
            client.$method(request).await
        }
    };
}
pub(crate) use sends_to;

/// Declares a tool's type and its [`Tool`] impl in one line,
/// `Name: Service::method(Args => Request) -> Reply`: the daemon service and the method its
/// request goes to, its arguments and the request they make, and the method's answer; then how
/// the arguments (and the [`Caller`]) make the request, and for a method that answers once
/// ([`Unary`]) how its answer makes the tool result.
macro_rules! daemon_tool {
    (
        $(#[$meta:meta])*
        $name:ident: $service:ident::$method:ident($args:ty => $request:ty) -> $reply:ty,
        |$a:ident, $caller:ident| $make:expr
        $(, |$r:ident| $result:expr)?
    ) => {
        $(#[$meta])*
        pub(crate) struct $name;

        impl $crate::mcp::tools::call::Tool for $name {
            type Args = $args;
            type Service = $service;
            type Request = $request;
            type Reply = $reply;

            fn request($a: $args, $caller: $crate::mcp::tools::call::Caller<'_>) -> $request {
                $make
            }

            $crate::mcp::tools::call::sends_to!($method);
        }

        $(
            impl $crate::mcp::tools::call::Unary for $name {
                fn result($r: $reply) -> rmcp::model::CallToolResult {
                    $result
                }
            }
        )?
    };
}
pub(crate) use daemon_tool;

/// A tool's MCP entry: its router, the function rmcp calls, the `#[tool]` attributes (name,
/// description, schemas, annotations) as the client sees them, and the generic path it takes
/// (`call_unary` or `call_streamed`, below) with the tool's `Tool` type.
macro_rules! mcp_entry {
    ($router:ident: $name:ident($args:ty) => $path:ident::<$tool:ty>, $($attrs:tt)*) => {
        #[tool_router(router = $router, vis = "pub(crate)")]
        impl $crate::mcp::SshMcp {
            #[tool($($attrs)*)]
            async fn $name(
                &self,
                rmcp::handler::server::wrapper::Parameters(args): rmcp::handler::server::wrapper::Parameters<$args>,
                rmcp::handler::server::tool::RequestState(state): rmcp::handler::server::tool::RequestState,
                rmcp::handler::server::tool::InputResponses(responses): rmcp::handler::server::tool::InputResponses,
                ctx: rmcp::service::RequestContext<rmcp::RoleServer>,
            ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
                let call = $crate::mcp::tools::call::Call {
                    tool: stringify!($name),
                    resumed: $crate::mcp::approval::Resumed::of(state, responses),
                };
                self.$path::<$tool>(call, args, ctx).await
            }
        }
    };
}
pub(crate) use mcp_entry;

/// A tool whose method answers once.
pub(crate) trait Unary: Tool {
    /// The tool result for the daemon's answer.
    fn result(reply: Self::Reply) -> CallToolResult;
}

/// A tool whose method streams events (progress, then the result): a command, a transfer.
pub(crate) trait Streamed: Tool<Reply = tonic::Streaming<Self::Event>> {
    type Event: Send;

    /// What runs on the host, for the messages of a call that ends early ("the transfer").
    const WHAT: &'static str;

    /// What one event of the stream means for the call.
    fn step(request: &Self::Request, event: Self::Event) -> Step;
}

/// One event of a long call, read.
#[derive(Debug)]
pub(crate) enum Step {
    /// Progress to report (when the client asked for it): done so far, out of `total` if known.
    Progress {
        progress: f64,
        total: Option<f64>,
        message: String,
    },
    /// The call ended with this result.
    Done(CallToolResult),
    /// Nothing to report.
    Nothing,
}

impl SshMcp {
    /// A request to the daemon, naming the MCP client this shim serves and the tool (the
    /// daemon's door records both), with a person's answer to the daemon's question when the
    /// call is sent again after one.
    pub(crate) fn outgoing<R>(
        ctx: &RequestContext<RoleServer>,
        tool: &'static str,
        message: R,
        approval: Option<&str>,
    ) -> tonic::Request<R> {
        let mut request = tonic::Request::new(message);
        if let Ok(value) = tool.parse() {
            request.metadata_mut().insert(protocol::TOOL_HEADER, value);
        }
        if let Some(value) = approval.and_then(|a| a.parse().ok()) {
            request
                .metadata_mut()
                .insert(protocol::APPROVAL_HEADER, value);
        }
        if let Some(info) = ctx.client_info() {
            let client = format!("{}/{}", info.name, info.version);
            // A name that is not a valid header value (non-ASCII) is left out.
            if let Ok(value) = client.parse() {
                request
                    .metadata_mut()
                    .insert(protocol::CLIENT_HEADER, value);
            }
        }
        request
    }

    fn caller(&self, ctx: &RequestContext<RoleServer>) -> Caller<'_> {
        Caller {
            reader_id: &self.reader_id,
            progress: ctx.meta.get_progress_token().is_some(),
        }
    }

    /// Sends `request` to tool `T`'s method, through `unary.rs` (the channel, the retry and
    /// cancellation) with its service's client and error types: the method's answer, or the
    /// tool result of its failure.
    pub(crate) async fn send<T: Tool>(
        &self,
        ctx: &RequestContext<RoleServer>,
        call: Call,
        request: &T::Request,
    ) -> Result<T::Reply, CallToolResponse> {
        self.unary(
            ctx,
            call.resumed,
            <T::Service as Service>::client,
            |client, approval| {
                T::send(
                    client,
                    Self::outgoing(ctx, call.tool, request.clone(), approval.as_deref()),
                )
            },
            <T::Service as Service>::on_status,
        )
        .await
    }

    /// Runs tool `T` whose daemon method answers once.
    pub(crate) async fn call_unary<T: Unary>(
        &self,
        call: Call,
        args: T::Args,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let request = T::request(args, self.caller(&ctx));
        Ok(match self.send::<T>(&ctx, call, &request).await {
            Ok(reply) => T::result(reply).into(),
            Err(stopped) => stopped,
        })
    }

    /// Runs tool `T` whose daemon method streams: progress becomes MCP progress notifications
    /// when the client sent a token, and the last event the result.
    pub(crate) async fn call_streamed<T: Streamed>(
        &self,
        call: Call,
        args: T::Args,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let progress_token = ctx.meta.get_progress_token();
        let request = T::request(args, self.caller(&ctx));
        let mut stream = match self.send::<T>(&ctx, call, &request).await {
            Ok(stream) => stream,
            Err(failure) => return Ok(failure),
        };
        loop {
            let event = match self.next_event(&ctx, &mut stream, T::WHAT).await {
                Ok(event) => event,
                Err(failure) => return Ok(failure.into()),
            };
            match T::step(&request, event) {
                Step::Progress {
                    progress,
                    total,
                    message,
                } => {
                    if let Some(token) = progress_token.clone() {
                        let mut note =
                            ProgressNotificationParam::new(token, progress).with_message(message);
                        if let Some(total) = total {
                            note = note.with_total(total);
                        }
                        let _ = ctx.peer.notify_progress(note).await;
                    }
                }
                Step::Done(result) => return Ok(result.into()),
                Step::Nothing => {}
            }
        }
    }
}
