//! What the fuzz target `policy_file` in `fuzz/` calls (feature `fuzzing`): any text through the
//! policy parser, as `ssh-mcp policy check` sends it and the daemon reloads it. Beyond "no
//! panic": an error names a line and column inside the text, and a policy that parses decides on
//! every class without a panic. The unit test replays the committed corpus on stable Rust.
//!
//! A fuzz oracle fails by panicking, so the daemon's lints against panics do not apply here;
//! nothing on a request path calls this module.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use crate::door::Class;

/// `fuzz_targets/policy_file.rs`.
pub fn policy_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match super::policy::parse(&text) {
        Ok(policy) => {
            let names = [
                "web".to_owned(),
                "root@web".to_owned(),
                "10.0.0.1".to_owned(),
            ];
            for class in Class::POLICY {
                let _ = policy.decide(&names, class);
            }
        }
        Err(e) => {
            let lines = text.split('\n').count();
            assert!(
                e.line >= 1 && e.line <= lines,
                "line {} of {lines}: {e}",
                e.line
            );
            assert!(e.column >= 1, "{e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use ssh_mcp_core::fuzzing::replay_corpus;

    #[test]
    fn the_policy_file_corpus_replays() {
        let files = replay_corpus("policy_file", super::policy_file);
        assert!(files >= 5, "only {files} corpus files");
    }
}
