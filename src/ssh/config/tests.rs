//! The inventory against files in a temporary home: Host names, Includes as ssh follows them,
//! and the patterns that name no single host.

use std::fs;

use super::*;

fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    fs::create_dir_all(home.path().join(".ssh/config.d")).unwrap();
    home
}

fn names(inv: &Inventory) -> Vec<&str> {
    inv.hosts.iter().map(|h| h.name.as_str()).collect()
}

#[test]
fn concrete_hosts_in_order_with_includes_followed() {
    let home = home();
    let ssh = home.path().join(".ssh");
    fs::write(
        ssh.join("config"),
        "# my hosts\n\
         Host web1 web2 *.internal !bad\n  HostName 10.0.0.1\n\
         Include config.d/*.conf\n\
         Host=\"quoted one\"\n\
         Match host web1\n  User deploy\n\
         Include ~/.ssh/extra\n\
         Host db? db1 # a comment\n\
         Host *\n  ServerAliveInterval 5\n",
    )
    .unwrap();
    fs::write(ssh.join("config.d/b.conf"), "Host bravo\n").unwrap();
    fs::write(ssh.join("config.d/a.conf"), "Host alpha web1\n").unwrap();
    fs::write(ssh.join("config.d/skip.txt"), "Host nope\n").unwrap();
    fs::write(ssh.join("extra"), "\n\nHost jump\n  ProxyJump web1\n").unwrap();
    let inv = read_inventory(&[(ssh.join("config"), Scope::User)], home.path());
    assert_eq!(
        names(&inv),
        [
            "web1",
            "web2",
            "alpha",
            "bravo",
            "quoted one",
            "jump",
            "db1"
        ]
    );
    let jump = inv.hosts.iter().find(|h| h.name == "jump").unwrap();
    assert_eq!((jump.file.clone(), jump.line), (ssh.join("extra"), 3));
    // web1 is defined first in config, line 2, whatever later files say.
    let web1 = &inv.hosts[0];
    assert_eq!((web1.file.clone(), web1.line), (ssh.join("config"), 2));
    assert_eq!(
        inv.files,
        [
            ssh.join("config"),
            ssh.join("config.d/a.conf"),
            ssh.join("config.d/b.conf"),
            ssh.join("extra")
        ]
    );
    assert!(inv.problems.is_empty(), "{:?}", inv.problems);
}

#[test]
fn missing_files_are_nothing_and_a_loop_stops_at_the_depth_limit() {
    let home = home();
    let ssh = home.path().join(".ssh");
    let inv = read_inventory(&[(ssh.join("config"), Scope::User)], home.path());
    assert_eq!(inv, Inventory::default());
    fs::write(ssh.join("config"), "Include missing nested\nHost a\n").unwrap();
    fs::write(ssh.join("nested"), "Include nested\nHost b\n").unwrap();
    let inv = read_inventory(&[(ssh.join("config"), Scope::User)], home.path());
    assert_eq!(names(&inv), ["b", "a"]);
    assert_eq!(inv.problems.len(), 1, "{:?}", inv.problems);
    assert!(
        inv.problems[0].contains("nested more than 16"),
        "{:?}",
        inv.problems
    );
}

#[test]
fn keywords_split_as_ssh_splits_them() {
    assert_eq!(keyword_and_args("  Host  a b"), Some(("Host", "a b")));
    assert_eq!(keyword_and_args("Host=a"), Some(("Host", "a")));
    assert_eq!(keyword_and_args("Host = a"), Some(("Host", "a")));
    assert_eq!(keyword_and_args("   # Host a"), None);
    assert_eq!(keyword_and_args(""), None);
    assert_eq!(words("a \"b c\" d # e"), ["a", "b c", "d"]);
    for pattern in ["*", "web*", "db?", "!bad", "a,b", ""] {
        assert!(!is_concrete(pattern), "{pattern}");
    }
    assert!(is_concrete("web1.example.com"));
}

#[test]
fn globs_match_as_fnmatch_does() {
    use super::glob::matches;
    assert!(matches("*.conf", "a.conf"));
    assert!(!matches("*.conf", "a.conf.bak"));
    assert!(matches("a?c", "abc"));
    assert!(matches("[a-c]x", "bx"));
    assert!(!matches("[!a-c]x", "bx"));
    assert!(matches("*a*b*c*", "xxaxxbxxcxx"));
    assert!(!matches("*a*b*c*", "xxaxxcxxbxx"));
}
