//! The script that ends remote commands a crashed daemon left running, and the reading of its
//! report. The daemon's journal names each command by its nonce, with its process group when
//! the command had reported it and how long ago that was.
//!
//! Why the age check: a process group id is a process id, and the host may have given it to
//! another process after our command ended. The kernel never hands out an id that is still in
//! use as a group, so a group that still has members but no leader is ours; a live leader is
//! ours only when it is at least as old as the report we got from it. A leader that is younger
//! is someone else's and is left alone (`REUSED`). A command whose group was never reported is
//! found by its nonce, which stands in its command line, unguessable to anything else.

use super::login_shell::for_any_login_shell;

/// How much younger than expected a live leader may look and still be ours: `ps` rounds down
/// to whole seconds, and the report reached the daemon a moment after the leader started.
const AGE_SLACK_SECS: u64 = 3;

/// One command to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// The nonce of its pid report: hex digits only (checked by [`end_orphans_script`]).
    pub nonce: String,
    /// Its process group, with how many seconds ago it was reported.
    pub group: Option<(u32, u64)>,
}

/// What the script found for one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrphanFate {
    /// Its group was still there and was ended with this signal (15 or 9).
    Ended { pgid: u32, signal: i32 },
    /// Nothing of it was left.
    Gone,
    /// Its group id now belongs to a younger process, which was left alone.
    Reused { pgid: u32 },
}

/// The script (a complete remote command line) that ends `orphans`: SIGTERM to each group that
/// is still ours, SIGKILL after `grace_tenths` tenths of a second. It prints one line per
/// command: `<nonce> ENDED <pgid> TERM|KILL`, `<nonce> GONE` or `<nonce> REUSED <pgid>`.
/// Orphans with a nonce that is not plain hex are left out (they cannot come from the daemon).
pub fn end_orphans_script(orphans: &[Orphan], grace_tenths: u32) -> String {
    let mut known = String::new();
    let mut unknown = String::new();
    for o in orphans
        .iter()
        .filter(|o| !o.nonce.is_empty() && o.nonce.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        match o.group {
            Some((pgid, age)) => {
                let min_age = age.saturating_sub(AGE_SLACK_SECS);
                known.push_str(&format!(" {}:{pgid}:{min_age}", o.nonce));
            }
            None => unknown.push_str(&format!(" {}", o.nonce)),
        }
    }
    let script = format!(
        "alive() {{ kill -s 0 -- -$1 2>/dev/null || {{ command -v pgrep >/dev/null 2>&1 && pgrep -s $1 >/dev/null 2>&1; }}; }}; \
         sig() {{ kill -s $1 -- -$2 2>/dev/null; command -v pkill >/dev/null 2>&1 && pkill -$1 -s $2 2>/dev/null; }}; \
         age() {{ t=$(ps -o etime= -p $1 2>/dev/null); \
           if [ -n \"$t\" ]; then echo $t | awk '{{n=split($1,a,/[-:]/); m[1]=1; m[2]=60; m[3]=3600; m[4]=86400; s=0; for (i=1; i<=n; i++) s+=a[n-i+1]*m[i]; print s}}'; \
           elif [ -r /proc/$1/stat ]; then awk -v hz=$(getconf CLK_TCK 2>/dev/null || echo 100) 'NR==1 {{up=$1; next}} {{sub(/.*\\) /, \"\"); print int(up - $20/hz)}}' /proc/uptime /proc/$1/stat; fi; }}; \
         own=$(ps -o pgid= -p $$ 2>/dev/null | tr -d ' '); \
         groups_of() {{ {{ ps -A -o pgid= -o args= 2>/dev/null || for f in /proc/[0-9]*/cmdline; do \
           tr '\\000' ' ' < $f 2>/dev/null | grep -q -F $1 && awk '{{sub(/.*\\) /, \"\"); print $3, \"'$1'\"}}' ${{f%cmdline}}stat 2>/dev/null; done; }} \
           | awk -v n=$1 -v own=\"$own\" 'index($0, n) && $1 != own {{print $1}}' | sort -u; }}; \
         T=; \
         for e in{known}; do n=${{e%%:*}}; r=${{e#*:}}; p=${{r%%:*}}; min=${{r#*:}}; \
           if alive $p; then a=$(age $p); \
             if [ -n \"$a\" ] && [ \"$a\" -lt $min ]; then echo \"$n REUSED $p\"; else T=\"$T $n:$p\"; sig TERM $p; fi; \
           else echo \"$n GONE\"; fi; done; \
         for n in{unknown}; do f=; for p in $(groups_of $n); do f=1; T=\"$T $n:$p\"; sig TERM $p; done; [ -z \"$f\" ] && echo \"$n GONE\"; done; \
         i=0; while [ $i -lt {grace_tenths} ]; do a=; for e in $T; do alive ${{e#*:}} && a=1; done; [ -z \"$a\" ] && break; \
           sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done; \
         for e in $T; do p=${{e#*:}}; if alive $p; then sig KILL $p; echo \"${{e%%:*}} ENDED $p KILL\"; else echo \"${{e%%:*}} ENDED $p TERM\"; fi; done; true"
    );
    format!("exec {}", for_any_login_shell(&script))
}

/// Reads the output of [`end_orphans_script`]: each nonce with what became of it.
pub fn parse_orphans_report(output: &str) -> Vec<(String, OrphanFate)> {
    output
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let nonce = words.next()?.to_owned();
            let fate = match (words.next()?, words.next(), words.next()) {
                ("GONE", None, None) => OrphanFate::Gone,
                ("REUSED", Some(p), None) => OrphanFate::Reused {
                    pgid: p.parse().ok()?,
                },
                ("ENDED", Some(p), Some(s)) => OrphanFate::Ended {
                    pgid: p.parse().ok()?,
                    signal: match s {
                        "TERM" => 15,
                        "KILL" => 9,
                        _ => return None,
                    },
                },
                _ => return None,
            };
            Some((nonce, fate))
        })
        .collect()
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "the tests run the script under the real shells"
)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;
    use crate::ssh::remote::login_shell::tests::LOGIN_SHELLS;

    fn run(login: &str, script: &str) -> String {
        let out = Command::new(login)
            .arg("-c")
            .arg(script)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", "/tmp")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A process group (and session) of its own running `sleep`, like a command sshd started,
    /// and not our child, so nothing here reaps it early; its pid, which is its pgid.
    fn group(nonce: &str) -> u32 {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "setsid sh -c 'sleep 300; : {nonce}' </dev/null >/dev/null 2>&1 & echo $!"
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    fn alive(pid: u32) -> bool {
        // SAFETY: kill with signal 0 only checks that the process exists.
        unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
    }

    fn gone(pid: u32) -> bool {
        (0..200).any(|_| {
            if !alive(pid) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
            false
        })
    }

    #[test]
    fn ends_its_groups_spares_a_younger_leader_and_finds_a_group_by_nonce() {
        for login in LOGIN_SHELLS {
            let (known, unreported, younger) = (group("aa11"), group("bb22"), group("cc33"));
            let orphans = [
                Orphan {
                    nonce: "aa11".into(),
                    group: Some((known, 0)),
                },
                Orphan {
                    nonce: "bb22".into(),
                    group: None,
                },
                // Reported an hour ago, but this leader started just now: not ours.
                Orphan {
                    nonce: "cc33".into(),
                    group: Some((younger, 3600)),
                },
                Orphan {
                    nonce: "dd44".into(),
                    group: Some((u32::MAX - 7, 5)),
                },
                Orphan {
                    nonce: "ee55".into(),
                    group: None,
                },
            ];
            // A long grace: here the orphans are reaped by an init that may take a while, and the
            // loop ends as soon as they are gone.
            let report = run(login, &end_orphans_script(&orphans, 100));
            let mut fates = parse_orphans_report(&report);
            fates.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(
                fates,
                vec![
                    (
                        "aa11".into(),
                        OrphanFate::Ended {
                            pgid: known,
                            signal: 15
                        }
                    ),
                    (
                        "bb22".into(),
                        OrphanFate::Ended {
                            pgid: unreported,
                            signal: 15
                        }
                    ),
                    ("cc33".into(), OrphanFate::Reused { pgid: younger }),
                    ("dd44".into(), OrphanFate::Gone),
                    ("ee55".into(), OrphanFate::Gone),
                ],
                "{login}: {report}"
            );
            assert!(gone(known), "{login}: the reported group still runs");
            assert!(
                gone(unreported),
                "{login}: the group found by nonce still runs"
            );
            assert!(alive(younger), "{login}: a younger leader was ended");
            // SAFETY: ends the group this test started.
            unsafe { libc::kill(-(younger as libc::pid_t), libc::SIGKILL) };
        }
    }

    #[test]
    fn a_nonce_that_is_not_hex_is_left_out() {
        let script = end_orphans_script(
            &[Orphan {
                nonce: "a';rm -rf ~;'".into(),
                group: None,
            }],
            0,
        );
        assert!(!script.contains("rm -rf"), "{script}");
    }

    #[test]
    fn the_report_reads_back() {
        let fates = parse_orphans_report(
            "ab ENDED 12 KILL\ncd GONE\nef REUSED 9\nnoise\ngh ENDED x TERM\n",
        );
        assert_eq!(
            fates,
            vec![
                (
                    "ab".into(),
                    OrphanFate::Ended {
                        pgid: 12,
                        signal: 9
                    }
                ),
                ("cd".into(), OrphanFate::Gone),
                ("ef".into(), OrphanFate::Reused { pgid: 9 }),
            ]
        );
    }
}
