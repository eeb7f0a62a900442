//! Property test of target validation: generated targets with a leading '-', white space or
//! shell characters are refused, and whatever is accepted uses the safe character set only and
//! reaches ssh as the destination after `--`.

use std::path::Path;

use ssh_mcp_core::ssh::argv::master::control_master;
use ssh_mcp_core::ssh::options::connection::{Connection, RawConnection};
use ssh_mcp_core::ssh::options::target::Target;

use super::Rng;
use super::parser::settings;

#[test]
fn targets_with_a_leading_dash_white_space_or_shell_characters_are_refused() {
    let mut rng = Rng::for_test(0x5EED_0005);
    let seed = rng.seed();
    let safe: Vec<char> = ('a'..='z')
        .chain('0'..='9')
        .chain(['.', '-', '_', 'A', 'Z'])
        .collect();
    let hostile = [
        ' ', '\t', '\n', '\r', '\0', '\x0b', '\x0c', '\x1b', '\x7f', '\u{85}', '\u{a0}',
        '\u{2028}', '\u{3000}', ';', '|', '&', '$', '`', '(', ')', '<', '>', '*', '?', '!', '{',
        '}', '\'', '"', '\\', '~', '#', '=', ',', '/', '^', 'é', '日', '🚀', '\u{202e}',
        '\u{ff0d}',
    ];
    let spaces = [" ", "\t", "\n", "", ""];
    for case in 0..5000 {
        let body = rng.string_from(&safe, 1, 20);
        let t = match rng.below(4) {
            // A leading '-', perhaps behind white space, perhaps in the user or host part.
            0 => format!("{}-{body}", rng.pick(&spaces)),
            1 => format!("{}@-{body}", rng.string_from(&safe[..36], 1, 8)),
            // A hostile character inside an otherwise plain name (not at an edge, where white
            // space is trimmed by design).
            _ => {
                let mut chars: Vec<char> = format!("a{body}").chars().collect();
                let at = 1 + rng.below(chars.len());
                chars.insert(at, *rng.pick(&hostile));
                chars.push('z');
                chars.into_iter().collect()
            }
        };
        if let Ok(parsed) = Target::parse(&t) {
            panic!("seed {seed} case {case}: target {t:?} was accepted as {parsed:?}");
        }
    }

    // Anything accepted at all is plain: safe characters only and no part starting with '-'.
    let alphabet: Vec<char> = safe
        .iter()
        .copied()
        .chain(hostile)
        .chain(['@', ':', '[', ']', '%', '+'])
        .collect();
    let mut accepted = 0;
    for case in 0..20_000 {
        let t = rng.string_from(&alphabet, 0, 12);
        let Ok(parsed) = Target::parse(&t) else {
            continue;
        };
        accepted += 1;
        let s = parsed.as_str();
        assert!(
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._:[]%+@-".contains(c)),
            "seed {seed} case {case}: accepted {t:?} as {s:?}"
        );
        let (user, host) = s.rsplit_once('@').map_or((None, s), |(u, h)| (Some(u), h));
        assert!(
            !host.starts_with('-') && !host.is_empty(),
            "seed {seed} case {case}: {s:?}"
        );
        assert!(
            user.is_none_or(|u| !u.is_empty() && !u.starts_with('-') && !u.contains('@')),
            "seed {seed} case {case}: {s:?}"
        );
        // And the builder puts it after `--`, as the destination and nothing else.
        let conn = Connection::parse(
            &RawConnection {
                target: t.clone(),
                ..Default::default()
            },
            None,
        )
        .unwrap();
        let argv = control_master(&settings(), &conn, Path::new("/run/cm/x"));
        let n = argv.args.len();
        assert_eq!(argv.args[n - 2], "--");
        assert_eq!(argv.args[n - 1], s);
    }
    assert!(
        accepted >= 200,
        "seed {seed}: only {accepted} random targets accepted"
    );
}
