//! `sshmcp.v1.Outputs`: Read, one page of a kept output (`outputs`).

use ssh_mcp_core::pb::{self, outputs_server::Outputs};
use tonic::{Request, Response, Status};

use crate::door::{Call, Method};
use crate::error::DaemonError;
use crate::outputs::page::{DEFAULT_PAGE_BYTES, MAX_PAGE_BYTES, PageRequest};
use crate::outputs::{Stream, valid_id};
use crate::state::Daemon;

pub struct OutputsService {
    daemon: Daemon,
}

impl OutputsService {
    pub fn new(daemon: Daemon) -> Self {
        Self { daemon }
    }
}

/// The page the agent asked for, checked.
pub(super) fn page_request(req: pb::ReadOutputRequest) -> Result<PageRequest, DaemonError> {
    let output_id = req.output_id.trim().to_owned();
    if !valid_id(&output_id) {
        return Err(DaemonError::Invalid(ssh_mcp_core::ssh::InvalidInput(
            format!(
                "'output_id' {:?} is not an output id (they look like out-0123456789abcdef and come \
             in ssh_exec's result)",
                req.output_id
            ),
        )));
    }
    let max_bytes = match req.max_bytes {
        0 => DEFAULT_PAGE_BYTES,
        n if n <= MAX_PAGE_BYTES => n,
        n => {
            return Err(DaemonError::Invalid(ssh_mcp_core::ssh::InvalidInput(
                format!("'max_bytes' must be between 1 and {MAX_PAGE_BYTES} (got {n})"),
            )));
        }
    };
    Ok(PageRequest {
        output_id,
        stream: Stream::parse(&req.stream)?,
        offset: req.offset,
        max_bytes,
        max_chars: PageRequest::chars_for(max_bytes),
        reader: req.reader_id,
    })
}

#[tonic::async_trait]
impl Outputs for OutputsService {
    async fn read(
        &self,
        req: Request<pb::ReadOutputRequest>,
    ) -> Result<Response<pb::OutputPage>, Status> {
        let entry = self.daemon.door.enter(Method::OutputsRead, &req)?;
        let answer = async {
            let page_req = page_request(req.into_inner())?;
            entry
                .admit(Call::none(format!(
                    "read {} of {}",
                    page_req.stream.name(),
                    page_req.output_id
                )))
                .await?;
            let (id, stream) = (page_req.output_id.clone(), page_req.stream);
            let blocking = &self.daemon.shutdown.commands;
            let page = self.daemon.outputs.read(page_req, blocking).await?;
            Ok::<_, DaemonError>(Response::new(pb::OutputPage {
                output_id: id,
                stream: stream.name().to_owned(),
                data: page.data,
                encoding: page.encoding.name().to_owned(),
                offset: page.offset,
                next_offset: page.next_offset,
                total_bytes: page.stream.kept,
                eof: page.eof,
                note: page.stream.note.unwrap_or_default(),
                written_bytes: page.stream.written,
            }))
        }
        .await
        .map_err(Status::from);
        entry.settle(answer)
    }
}
