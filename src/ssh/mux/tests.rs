//! Unit tests of the mux encoding and decoding: message layouts, replies, malformed input.

use super::*;

#[test]
fn new_session_layout() {
    let m = new_session(7, true, "xterm", "ls");
    let len = message_len(m[..4].try_into().unwrap()).unwrap();
    assert_eq!(len, m.len() - 4);
    let mut r = Reader(&m[4..]);
    assert_eq!(r.u32().unwrap(), MUX_C_NEW_SESSION);
    assert_eq!(r.u32().unwrap(), 7);
    assert_eq!(r.string().unwrap(), "");
    assert_eq!(
        [
            r.u32().unwrap(),
            r.u32().unwrap(),
            r.u32().unwrap(),
            r.u32().unwrap()
        ],
        [1, 0, 0, 0]
    );
    assert_eq!(r.u32().unwrap(), u32::MAX);
    assert_eq!(r.string().unwrap(), "xterm");
    assert_eq!(r.string().unwrap(), "ls");
    assert!(r.0.is_empty());
}

#[test]
fn a_subsystem_request_sets_the_flag_and_names_it() {
    let m = new_subsystem(9, "sftp");
    let mut r = Reader(&m[4..]);
    assert_eq!(r.u32().unwrap(), MUX_C_NEW_SESSION);
    assert_eq!(r.u32().unwrap(), 9);
    assert_eq!(r.string().unwrap(), "");
    // tty, X11, agent, subsystem
    let flags: Vec<u32> = (0..4).map(|_| r.u32().unwrap()).collect();
    assert_eq!(flags, [0, 0, 0, 1]);
    assert_eq!(r.u32().unwrap(), u32::MAX);
    assert_eq!(r.string().unwrap(), "");
    assert_eq!(r.string().unwrap(), "sftp");
    assert!(r.0.is_empty());
}

#[test]
fn forward_requests_carry_the_spec() {
    let f = ForwardRequest {
        kind: ForwardKind::Remote,
        listen_host: "::1".into(),
        listen_port: 8080,
        connect_host: "db".into(),
        connect_port: 5432,
    };
    for (m, kind) in [
        (open_forward(4, &f), MUX_C_OPEN_FWD),
        (close_forward(4, &f), MUX_C_CLOSE_FWD),
    ] {
        let mut r = Reader(&m[4..]);
        assert_eq!(r.u32().unwrap(), kind);
        assert_eq!(r.u32().unwrap(), 4);
        assert_eq!(r.u32().unwrap(), 2);
        assert_eq!(r.string().unwrap(), "::1");
        assert_eq!(r.u32().unwrap(), 8080);
        assert_eq!(r.string().unwrap(), "db");
        assert_eq!(r.u32().unwrap(), 5432);
        assert!(r.0.is_empty());
    }
    let mut body = Vec::new();
    put_u32(&mut body, MUX_S_REMOTE_PORT);
    put_u32(&mut body, 4);
    put_u32(&mut body, 40001);
    let reply = decode(&body).unwrap();
    assert_eq!(
        reply,
        Reply::RemotePort {
            request_id: 4,
            port: 40001
        }
    );
    assert_eq!(reply.request_id(), Some(4));
}

#[test]
fn replies_decode() {
    let mut body = Vec::new();
    put_u32(&mut body, MUX_S_FAILURE);
    put_u32(&mut body, 3);
    put_string(&mut body, b"Session open refused by peer");
    assert_eq!(
        decode(&body).unwrap(),
        Reply::Failure {
            request_id: 3,
            reason: "Session open refused by peer".into()
        }
    );
    let mut body = Vec::new();
    put_u32(&mut body, MUX_S_EXIT_MESSAGE);
    put_u32(&mut body, 1);
    put_u32(&mut body, 42);
    assert_eq!(
        decode(&body).unwrap(),
        Reply::ExitMessage {
            session_id: 1,
            exit_value: 42
        }
    );
}

#[test]
fn malformed_replies_are_errors_not_panics() {
    assert!(decode(&[]).is_err());
    assert!(decode(&[0x80, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 99]).is_err());
    assert!(message_len([0xff, 0xff, 0xff, 0xff]).is_err());
    assert!(message_len([0, 0, 0, 1]).is_err());
}
