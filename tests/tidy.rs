//! Checks that keep the architecture true: every source file says what it owns, the shim links
//! nothing of PTYs or ssh (by the crate graph), and only the argv module builds ssh command lines.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["src", "wire/src", "daemon/src", "shim/src"] {
        rust_files(&root().join(dir), &mut files);
    }
    files
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            !text.lines().take(5).any(|l| l.starts_with("//!"))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a //! doc: {missing:?}");
}

/// The shim's crates as `cargo tree` lists them: what is linked into `ssh-mcp`, read from the
/// crate graph rather than from the source text.
fn shim_dependencies() -> Vec<String> {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--locked", "--manifest-path"])
        .arg(root().join("Cargo.toml"))
        .args(["-p", "ssh-mcp", "--edges", "normal", "--prefix", "none"])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_shim_depends_on_no_pty_or_ssh_code() {
    let crates = shim_dependencies();
    assert!(
        crates.iter().any(|c| c == "ssh-mcp-wire"),
        "cargo tree does not list the wire crate under the shim: {crates:?}"
    );
    // ssh-mcp-core holds the ssh argument allowlists and the argv builder; pty-process is the
    // daemon's terminal handling. The shim carries MCP to gRPC and needs neither.
    for forbidden in ["ssh-mcp-core", "ssh-mcpd", "pty-process"] {
        assert!(
            !crates.iter().any(|c| c == forbidden),
            "the shim (package ssh-mcp) depends on {forbidden}: `cargo tree -p ssh-mcp -e normal \
             -i {forbidden}` shows the path; the shim may use ssh-mcp-wire only"
        );
    }
}

#[test]
fn only_the_argv_module_builds_ssh_command_lines() {
    let argv_module = root().join("src/ssh/argv");
    for f in sources() {
        if f.starts_with(&argv_module) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for needle in ["\"-S\"", "\"ControlMaster", "\"-tt\"", "Argv {"] {
            assert!(
                !text.contains(needle),
                "{} builds ssh arguments ({needle})",
                f.display()
            );
        }
    }
}

#[test]
fn only_the_grpc_layer_of_the_daemon_touches_wire_types() {
    let mut files = Vec::new();
    rust_files(&root().join("daemon/src"), &mut files);
    for f in files {
        if f.components().any(|c| c.as_os_str() == "grpc") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            !text.contains("ssh_mcp_core::pb"),
            "{} uses generated protobuf types",
            f.display()
        );
    }
}

/// Shutdown waits for the `commands` and `connections` trackers; a task spawned beside them would
/// outlive it unseen (a tracker's own `.spawn_blocking` is fine).
#[test]
fn every_daemon_task_is_spawned_on_a_shutdown_tracker() {
    let mut files = Vec::new();
    rust_files(&root().join("daemon/src"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for needle in [
            "tokio::spawn",
            "tokio::task::spawn",
            " spawn_blocking",
            "::spawn_blocking",
        ] {
            assert!(
                !text.contains(needle),
                "{} calls {needle}: spawn on Shutdown's commands or connections tracker",
                f.display()
            );
        }
    }
}

/// The connection layer sits below every capability and below the daemon's wiring: it is handed
/// the pool, never the whole `Daemon`, so that it can be read (and changed) on its own.
#[test]
fn the_connection_layer_uses_no_capability_and_no_daemon_state() {
    let mut files = Vec::new();
    rust_files(&root().join("daemon/src/connection"), &mut files);
    assert!(!files.is_empty(), "daemon/src/connection holds no files");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for layer in [
            "state",
            "exec",
            "sessions",
            "files",
            "search",
            "transfers",
            "forwards",
            "recovery",
            "grpc",
        ] {
            let needle = format!("crate::{layer}::");
            assert!(
                !text.contains(&needle),
                "{} uses {needle}: the connection layer takes what it needs as arguments",
                f.display()
            );
        }
    }
}
