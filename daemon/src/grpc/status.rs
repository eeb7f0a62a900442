//! The one mapping from [`DaemonError`] to a gRPC status. The message is what the agent will read,
//! so it is passed through whole.

use tonic::Status;

use crate::error::DaemonError;

impl From<DaemonError> for Status {
    fn from(e: DaemonError) -> Self {
        let message = e.to_string();
        match e {
            DaemonError::Invalid(_) => Status::invalid_argument(message),
            DaemonError::Binary(_) => Status::failed_precondition(message),
            DaemonError::Connect { .. } => Status::unavailable(message),
            DaemonError::Spawn { .. } | DaemonError::Mux(_) => Status::internal(message),
            DaemonError::Cancelled => Status::cancelled(message),
            DaemonError::ShuttingDown => Status::unavailable(message),
            DaemonError::UnknownSession(_) => Status::not_found(message),
            DaemonError::SessionConflict(_) | DaemonError::SessionGone(_) => {
                Status::failed_precondition(message)
            }
            // Aborted: the operation was tried on the host and refused there; the shim reports it
            // as the seed's `remote_file_error`.
            DaemonError::RemoteFile(_) => Status::aborted(message),
            DaemonError::UnknownForward(_) | DaemonError::UnknownOutput(_) => {
                Status::not_found(message)
            }
            DaemonError::Forward(_) => Status::failed_precondition(message),
            DaemonError::LimitReached(_) => Status::resource_exhausted(message),
            DaemonError::PolicyDenied(_) => Status::permission_denied(message),
            DaemonError::ApprovalRequired { challenge, .. } => {
                let mut metadata = tonic::metadata::MetadataMap::new();
                match challenge.parse() {
                    Ok(value) => {
                        metadata.insert(ssh_mcp_core::protocol::APPROVAL_CHALLENGE, value);
                        Status::with_metadata(tonic::Code::PermissionDenied, message, metadata)
                    }
                    Err(_) => Status::internal("cannot encode an approval challenge"),
                }
            }
            DaemonError::Internal(_) => Status::internal(message),
        }
    }
}
