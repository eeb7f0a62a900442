//! The result budget's cuts: whole when it fits, head and tail around a marker, raw bytes once.

use base64::Engine;

use super::*;

fn stream(name: &'static str, bytes: &[u8], cut_at: Option<usize>, total: u64) -> StreamIn {
    StreamIn {
        name,
        bytes: bytes.to_vec(),
        cut_at,
        total,
    }
}

const AT: Where<'static> = Where {
    output_id: Some("out-0123456789abcdef"),
};

#[test]
fn what_fits_is_shown_whole() {
    let out = stream("stdout", b"hello\n", None, 6);
    let err = stream("stderr", b"", None, 0);
    let [o, e] = fit([&out, &err], 1000, AT);
    assert_eq!(o.text, "hello\n");
    assert!(!o.truncated && o.base64.is_none());
    assert_eq!(e.text, "");
}

#[test]
fn a_long_stream_keeps_three_quarters_head_one_quarter_tail_around_a_marker() {
    let text: String = (0..20_000).map(|i| format!("{i:05}\n")).collect();
    let out = stream("stdout", text.as_bytes(), None, text.len() as u64);
    let err = stream("stderr", b"", None, 0);
    let [o, _] = fit([&out, &err], 10_000, AT);
    assert!(o.truncated);
    assert!(json_chars(&o.text) <= 10_000, "{}", json_chars(&o.text));
    assert!(o.text.starts_with("00000\n00001\n"));
    assert!(o.text.ends_with("19999\n"));
    let (head, rest) = o.text.split_once("\n[ssh-mcp: ").unwrap();
    let (marker, tail) = rest.split_once("]\n").unwrap();
    assert!(
        head.len() > 2 * tail.len(),
        "{} vs {}",
        head.len(),
        tail.len()
    );
    let left_out = text.len() - head.len() - tail.len();
    assert!(
        marker.starts_with(&format!("{left_out} bytes of stdout left out here")),
        "{marker}"
    );
    assert!(
        marker.contains("output_id=\"out-0123456789abcdef\""),
        "{marker}"
    );
    assert!(
        marker.contains(&format!("offset={}", head.len())),
        "{marker}"
    );
    assert_eq!(&text[..head.len()], head);
    assert!(text.ends_with(tail));
}

#[test]
fn the_daemons_head_and_tail_are_joined_by_the_marker() {
    let bytes = b"HEAD....TAIL";
    let out = stream("stdout", bytes, Some(8), 1_000_000);
    let [o, _] = fit([&out, &stream("stderr", b"", None, 0)], 1000, AT);
    assert!(o.truncated);
    assert!(
        o.text
            .starts_with("HEAD....\n[ssh-mcp: 999988 bytes of stdout"),
        "{}",
        o.text
    );
    assert!(o.text.ends_with("]\nTAIL"));
}

#[test]
fn escapes_count_as_the_client_sees_them() {
    // 3,000 newlines are 6,000 characters of JSON.
    let nl = vec![b'\n'; 3000];
    let out = stream("stdout", &nl, None, 3000);
    let [o, _] = fit([&out, &stream("stderr", b"", None, 0)], 2000, AT);
    assert!(o.truncated);
    assert!(json_chars(&o.text) <= 2000);
}

#[test]
fn a_character_cut_by_the_daemon_is_dropped_not_mangled() {
    let s = "aé".repeat(10);
    let b = s.as_bytes();
    // The daemon cut inside the second é (head) and inside the ninth (tail).
    let mut kept = b[..5].to_vec();
    kept.extend_from_slice(&b[26..]);
    let out = stream("stdout", &kept, Some(5), b.len() as u64);
    let [o, _] = fit([&out, &stream("stderr", b"", None, 0)], 1000, AT);
    assert!(
        o.base64.is_none(),
        "text cut inside a character is still text"
    );
    assert!(o.text.starts_with("aéa\n[ssh-mcp: 23 bytes"), "{}", o.text);
    assert!(o.text.ends_with("]\naé"), "{}", o.text);
    assert!(!o.text.contains('\u{fffd}'));
}

#[test]
fn raw_bytes_go_once_as_base64() {
    let bin = [0xffu8, 0xfe, 0, 1, 2];
    let out = stream("stdout", &bin, None, 5);
    let [o, _] = fit([&out, &stream("stderr", b"", None, 0)], 1000, AT);
    assert_eq!(o.text, "", "no lossy text beside the bytes");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(o.base64.unwrap())
        .unwrap();
    assert_eq!(decoded, bin);
    assert!(!o.truncated);
}

#[test]
fn raw_bytes_past_the_budget_give_their_beginning_and_where_the_rest_is() {
    let bin: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let out = stream("stdout", &bin, None, 100_000);
    let [o, _] = fit([&out, &stream("stderr", b"", None, 0)], 4000, AT);
    assert!(o.truncated);
    let b64 = o.base64.unwrap();
    assert!(b64.len() + json_chars(&o.text) <= 4000);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&b64)
        .unwrap();
    assert_eq!(decoded, bin[..decoded.len()]);
    assert!(
        o.text.contains(&format!("offset={}", decoded.len())),
        "{}",
        o.text
    );
    assert!(o.text.contains("is not UTF-8"), "{}", o.text);
}

#[test]
fn two_long_streams_share_the_room() {
    let big = "x".repeat(100_000);
    let out = stream("stdout", big.as_bytes(), None, 100_000);
    let err = stream("stderr", big.as_bytes(), None, 100_000);
    let [o, e] = fit([&out, &err], 20_000, AT);
    let (a, b) = (json_chars(&o.text), json_chars(&e.text));
    assert!(a + b <= 20_000, "{a} + {b}");
    assert!(a > 9_000 && b > 9_000, "{a} {b}");
    // A short stream keeps all of itself.
    let short = stream("stderr", b"warning: x\n", None, 11);
    let [o, e] = fit([&out, &short], 20_000, AT);
    assert_eq!(e.text, "warning: x\n");
    assert!(json_chars(&o.text) > 19_000);
}
