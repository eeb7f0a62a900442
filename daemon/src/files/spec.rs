//! The file tools' requests as the agent sent them (plain fields, no wire types) and their
//! validation into a [`FileCall`], with the seed's messages where the seed had one. A refusal
//! is an `InvalidInput` (the agent's `validation_error`) and nothing is sent to the host.

use std::path::PathBuf;

use ssh_mcp_core::ssh::InvalidInput;
use ssh_mcp_core::ssh::options::connection::Connection;

use crate::door::Common;

use super::edit::{EditRequest, MAX_EDIT_BYTES};
use super::replace::Edit;
use super::view::{MAX_CONTENT_BYTES, Mode, ViewRequest};

/// The seed's default cut-off for a view without a range or `force_read_large_files`.
pub const DEFAULT_MAX_BYTES: u64 = 20_480;
#[derive(Debug, Clone, Default)]
pub struct RawView {
    pub path: String,
    pub view_range: Vec<i64>,
    pub force_read_large_files: bool,
    pub max_bytes: Option<i64>,
    pub line_numbers: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RawCreate {
    pub path: String,
    pub content: Vec<u8>,
    pub make_parents: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RawEdit {
    pub path: String,
    pub edits: Vec<Edit>,
}

/// What `ssh_create` writes, validated.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub path: String,
    pub content: Vec<u8>,
    pub make_parents: bool,
}

/// What each file operation knows of its path.
pub trait FileOp {
    /// The path as the agent gave it (trimmed), for messages.
    fn path(&self) -> &str;
}

impl FileOp for ViewRequest {
    fn path(&self) -> &str {
        &self.path
    }
}

impl FileOp for CreateRequest {
    fn path(&self) -> &str {
        &self.path
    }
}

impl FileOp for EditRequest {
    fn path(&self) -> &str {
        &self.path
    }
}

/// A validated file request: where, and the operation (a [`ViewRequest`], [`CreateRequest`] or
/// [`EditRequest`]).
#[derive(Debug, Clone)]
pub struct FileCall<O> {
    pub conn: Connection,
    pub auth_sock: Option<PathBuf>,
    /// When the call must be over (its entry through the door plus the timeout): the connection,
    /// the SFTP session and the operation all count.
    pub deadline: Option<std::time::Instant>,
    pub op: O,
}

impl FileCall<ViewRequest> {
    pub fn view(common: Common, raw: RawView) -> Result<Self, InvalidInput> {
        let mode = match raw.view_range.as_slice() {
            [] if raw.force_read_large_files => Mode::Full,
            [] => Mode::Auto {
                max_bytes: max_bytes(raw.max_bytes)?,
            },
            &[start, end] => range(start, end)?,
            _ => {
                return Err(InvalidInput::new(
                    "'view_range' must be a two-element array, e.g. [start, end].",
                ));
            }
        };
        let line_numbers = raw.line_numbers;
        new(common, &raw.path, |path| ViewRequest {
            path,
            mode,
            line_numbers,
        })
    }
}

impl FileCall<CreateRequest> {
    pub fn create(common: Common, raw: RawCreate) -> Result<Self, InvalidInput> {
        if raw.content.len() as u64 > MAX_EDIT_BYTES {
            return Err(InvalidInput(format!(
                "'content' is {} bytes; a file created in one call holds at most {} MiB. Create \
                 it smaller and add the rest with ssh_scp or ssh_sync.",
                raw.content.len(),
                MAX_EDIT_BYTES >> 20
            )));
        }
        let (content, make_parents) = (raw.content, raw.make_parents);
        new(common, &raw.path, |path| CreateRequest {
            path,
            content,
            make_parents,
        })
    }
}

impl FileCall<EditRequest> {
    pub fn edit(common: Common, raw: RawEdit) -> Result<Self, InvalidInput> {
        if raw.edits.is_empty() {
            return Err(InvalidInput::new(
                "'edits' is required and must be a non-empty array of {old_str, new_str} objects.",
            ));
        }
        if let Some(i) = raw.edits.iter().position(|e| e.old_str.is_empty()) {
            return Err(InvalidInput(format!(
                "'edits[{i}].old_str' is required and must be a non-empty string."
            )));
        }
        let edits = raw.edits;
        new(common, &raw.path, |path| EditRequest { path, edits })
    }
}

impl<O: FileOp> FileCall<O> {
    /// The path as the agent gave it (trimmed), for messages.
    pub fn path(&self) -> &str {
        self.op.path()
    }
}

fn new<O>(
    common: Common,
    path: &str,
    op: impl FnOnce(String) -> O,
) -> Result<FileCall<O>, InvalidInput> {
    let path = remote_path(path)?;
    Ok(FileCall {
        conn: common.conn,
        auth_sock: common.auth_sock,
        deadline: common.deadline,
        op: op(path),
    })
}

/// The seed trims the path and refuses an empty one or one with NUL.
fn remote_path(raw: &str) -> Result<String, InvalidInput> {
    if raw.contains('\0') {
        return Err(InvalidInput::new("'path' cannot contain NUL bytes."));
    }
    let p = raw.trim();
    if p.is_empty() {
        return Err(InvalidInput::new("'path' must be a non-empty string."));
    }
    Ok(p.to_owned())
}

fn range(start: i64, end: i64) -> Result<Mode, InvalidInput> {
    if start < 1 {
        return Err(InvalidInput::new(
            "'view_range[0]' (start line) must be >= 1.",
        ));
    }
    match end {
        -1 => Ok(Mode::Range {
            start: start as u64,
            end: None,
        }),
        end if end >= start => Ok(Mode::Range {
            start: start as u64,
            end: Some(end as u64),
        }),
        _ => Err(InvalidInput::new(
            "'view_range[1]' (end line) must be -1 (end of file) or >= start line.",
        )),
    }
}

/// The seed's `max_bytes` (at least 1); more than a call carries is taken as that much.
fn max_bytes(raw: Option<i64>) -> Result<u64, InvalidInput> {
    match raw {
        None => Ok(DEFAULT_MAX_BYTES),
        Some(n) if n < 1 => Err(InvalidInput::new("'max_bytes' must be >= 1.")),
        Some(n) => Ok((n as u64).min(MAX_CONTENT_BYTES)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common() -> Common {
        crate::door::test_common("h")
    }

    fn view(f: impl FnOnce(&mut RawView)) -> Result<Mode, String> {
        let mut raw = RawView {
            path: " a.txt ".into(),
            ..Default::default()
        };
        f(&mut raw);
        Ok(FileCall::view(common(), raw)
            .map_err(|e| e.to_string())?
            .op
            .mode)
    }

    #[test]
    fn view_modes_as_the_seed_chooses_them() {
        assert_eq!(view(|_| {}), Ok(Mode::Auto { max_bytes: 20_480 }));
        assert_eq!(
            view(|r| r.max_bytes = Some(5)),
            Ok(Mode::Auto { max_bytes: 5 })
        );
        assert_eq!(view(|r| r.force_read_large_files = true), Ok(Mode::Full));
        assert_eq!(
            view(|r| {
                r.force_read_large_files = true;
                r.view_range = vec![3, -1];
            }),
            Ok(Mode::Range {
                start: 3,
                end: None
            })
        );
        assert_eq!(
            view(|r| r.view_range = vec![2, 2]),
            Ok(Mode::Range {
                start: 2,
                end: Some(2)
            })
        );
    }

    #[test]
    fn view_arguments_are_refused_with_the_seed_messages() {
        assert_eq!(
            view(|r| r.view_range = vec![1]),
            Err("'view_range' must be a two-element array, e.g. [start, end].".into())
        );
        assert_eq!(
            view(|r| r.view_range = vec![0, 3]),
            Err("'view_range[0]' (start line) must be >= 1.".into())
        );
        assert_eq!(
            view(|r| r.view_range = vec![5, 4]),
            Err("'view_range[1]' (end line) must be -1 (end of file) or >= start line.".into())
        );
        assert_eq!(
            view(|r| r.view_range = vec![5, -2]),
            Err("'view_range[1]' (end line) must be -1 (end of file) or >= start line.".into())
        );
        assert_eq!(
            view(|r| r.max_bytes = Some(0)),
            Err("'max_bytes' must be >= 1.".into())
        );
        assert_eq!(
            view(|r| r.max_bytes = Some(1 << 40)),
            Ok(Mode::Auto {
                max_bytes: MAX_CONTENT_BYTES
            })
        );
    }

    #[test]
    fn the_path_is_trimmed_and_checked() {
        let call = FileCall::create(
            common(),
            RawCreate {
                path: "  -x y\n ".into(),
                content: b"c".to_vec(),
                make_parents: false,
            },
        )
        .unwrap();
        assert_eq!(call.path(), "-x y");
        for (bad, message) in [
            ("  ", "'path' must be a non-empty string."),
            ("a\0b", "'path' cannot contain NUL bytes."),
        ] {
            let e = FileCall::create(
                common(),
                RawCreate {
                    path: bad.into(),
                    content: vec![],
                    make_parents: false,
                },
            )
            .unwrap_err();
            assert_eq!(e.to_string(), message);
        }
    }

    #[test]
    fn edits_must_be_there_with_an_old_str() {
        let edit = |edits: Vec<Edit>| {
            FileCall::edit(
                common(),
                RawEdit {
                    path: "f".into(),
                    edits,
                },
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            edit(vec![]),
            Err(
                "'edits' is required and must be a non-empty array of {old_str, new_str} objects."
                    .into()
            )
        );
        let e = |old: &str| Edit {
            old_str: old.into(),
            new_str: String::new(),
            replace_all: false,
        };
        assert_eq!(
            edit(vec![e("a"), e("")]),
            Err("'edits[1].old_str' is required and must be a non-empty string.".into())
        );
        assert_eq!(edit(vec![e("a")]), Ok(()));
    }

    #[test]
    fn created_content_is_capped_with_the_figure() {
        let raw = |len: usize| RawCreate {
            path: "f".into(),
            content: vec![b'x'; len],
            make_parents: false,
        };
        assert!(FileCall::create(common(), raw(32 << 20)).is_ok());
        let e = FileCall::create(common(), raw((32 << 20) + 1)).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "'content' is 33554433 bytes; a file created in one call holds at most 32 MiB."
            ),
            "{e}"
        );
    }
}
