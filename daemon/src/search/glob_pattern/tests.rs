//! Tests of the glob dialect: each rule of the module doc, braces and their limits, and the
//! cost of many `**`.

use super::*;

fn m(pattern: &str, path: &str) -> bool {
    GlobPattern::parse(pattern).unwrap().matches(path)
}

// The seed's 15 glob tests (tests/test_glob_translation.py), one for one.

#[test]
fn star_matches_within_single_segment_only() {
    assert!(m("*.py", "foo.py"));
    assert!(!m("*.py", "sub/foo.py"));
}

#[test]
fn star_does_not_match_hidden_files() {
    assert!(!m("*.py", ".hidden.py"));
    assert!(m("*", "foo"));
    assert!(!m("*", ".env"));
}

#[test]
fn dot_prefixed_pattern_matches_hidden_files() {
    assert!(m(".env", ".env"));
    assert!(m(".*", ".env"));
}

#[test]
fn question_mark_matches_exactly_one_character() {
    assert!(m("a?c.txt", "abc.txt"));
    assert!(!m("a?c.txt", "ac.txt"));
    assert!(!m("a?c.txt", "abbc.txt"));
}

#[test]
fn double_star_matches_zero_or_more_segments() {
    for p in ["foo.py", "sub/foo.py", "a/b/c.py"] {
        assert!(m("**/*.py", p), "{p}");
    }
}

#[test]
fn double_star_skips_hidden_directories() {
    assert!(!m("**/*.py", ".hidden/foo.py"));
    assert!(!m("**/*.py", "sub/.foo.py"));
}

#[test]
fn double_star_in_the_middle_of_pattern() {
    assert!(m("src/**/*.ts", "src/foo.ts"));
    assert!(m("src/**/*.ts", "src/a/b/c.ts"));
    assert!(!m("src/**/*.ts", "other/foo.ts"));
    assert!(!m("src/**/*.ts", "src/.git/config.ts"));
}

#[test]
fn double_star_at_end_matches_everything_under_prefix() {
    assert!(m("src/**", "src/foo.txt"));
    assert!(m("src/**", "src/a/b.txt"));
    assert!(!m("src/**", "other/foo.txt"));
}

#[test]
fn bare_double_star_matches_any_non_hidden_path() {
    assert!(m("**", "foo.txt"));
    assert!(m("**", "a/b/c.txt"));
    assert!(!m("**", ".git/config"));
}

#[test]
fn multiple_double_stars() {
    assert!(m("**/foo/**", "a/foo/b/c.txt"));
    assert!(m("**/foo/**", "foo/b.txt"));
    assert!(!m("**/foo/**", "foo"));
}

#[test]
fn brace_alternation() {
    assert!(m("*.{ts,tsx}", "a.ts"));
    assert!(m("*.{ts,tsx}", "a.tsx"));
    assert!(!m("*.{ts,tsx}", "a.js"));
}

#[test]
fn brace_alternation_spanning_a_whole_segment() {
    assert!(m("{src,lib}/*.ts", "src/a.ts"));
    assert!(m("{src,lib}/*.ts", "lib/a.ts"));
    assert!(!m("{src,lib}/*.ts", "test/a.ts"));
}

#[test]
fn character_class() {
    assert!(m("[abc].txt", "a.txt"));
    assert!(m("[abc].txt", "c.txt"));
    assert!(!m("[abc].txt", "d.txt"));
}

#[test]
fn negated_character_class() {
    for p in ["[!abc].txt", "[^abc].txt"] {
        assert!(m(p, "d.txt"), "{p}");
        assert!(!m(p, "a.txt"), "{p}");
    }
}

#[test]
fn literal_special_regex_characters_are_escaped() {
    assert!(m("a.b.txt", "a.b.txt"));
    assert!(!m("a.b.txt", "aXb.txt"));
    assert!(m("a+(b)|$^.txt", "a+(b)|$^.txt"));
}

// Beyond the seed's tests.

#[test]
fn nested_braces_expand_innermost_first() {
    assert_eq!(
        expand_braces("{a,{b,c}}.{x,y}").unwrap(),
        ["a.x", "a.y", "b.x", "b.y", "c.x", "c.y"]
    );
    assert!(m("src/{a,b/{c,d}}/*.rs", "src/b/d/x.rs"));
    assert!(!m("src/{a,b/{c,d}}/*.rs", "src/b/x.rs"));
    // An unclosed brace is a literal.
    assert_eq!(expand_braces("a{b,c").unwrap(), ["a{b,c"]);
    assert!(m("a{b", "a{b"));
}

#[test]
fn brace_explosion_is_refused() {
    let p = "{a,b}".repeat(11);
    let e = expand_braces(&p).unwrap_err();
    assert!(e.0.contains("more than 1024"), "{e}");
    assert_eq!(expand_braces(&"{a,b}".repeat(10)).unwrap().len(), 1024);
}

#[test]
fn a_long_pattern_times_many_alternatives_is_refused() {
    let p = format!("{}{}", "x".repeat(1000), "{a,b}".repeat(9));
    let e = expand_braces(&p).unwrap_err();
    assert!(e.0.contains("256 KiB"), "{e}");
    assert!(expand_braces(&format!("{}{}", "x".repeat(100), "{a,b}".repeat(9))).is_ok());
}

#[test]
fn repeated_alternatives_count_toward_the_limit() {
    // 5^7 expansions that all give "": found by the glob_pattern fuzz target, whose slowest
    // input (kept in fuzz/corpus/glob_pattern) took seconds here with a handful of distinct
    // alternatives.
    let e = expand_braces(&"{,,,,}".repeat(7)).unwrap_err();
    assert!(e.0.contains("more than 1024"), "{e}");
    assert_eq!(expand_braces("{a,a,b}{,}").unwrap(), ["a", "b"]);
}

#[test]
fn an_unterminated_class_is_a_literal() {
    assert!(m("a[b", "a[b"));
    assert!(!m("a[b", "ab"));
    assert!(m("[*", "[xyz"));
}

#[test]
fn classes_take_ranges_and_a_leading_bracket() {
    assert!(m("[a-c]x", "bx"));
    assert!(!m("[a-c]x", "dx"));
    assert!(m("[]a]", "]"));
    assert!(m("[!]a]", "b"));
    assert!(!m("[!]a]", "]"));
    assert!(m("[a-]", "-"));
    assert!(m("[é]", "é"));
}

#[test]
fn nothing_but_a_slash_matches_a_slash() {
    assert!(!m("a?b", "a/b"));
    assert!(!m("a*b", "a/b"));
    assert!(!m("a[!x]b", "a/b"));
    assert!(m("a/b", "a/b"));
}

#[test]
fn hidden_names_need_a_literal_dot() {
    assert!(!m("?env", ".env"));
    assert!(!m("[.]env", ".env"));
    assert!(m(".*/x", ".cfg/x"));
    assert!(!m("*/x", ".cfg/x"));
    assert!(m("**/.env", "a/b/.env"));
    assert!(!m("**/.env", ".a/.env"));
}

#[test]
fn double_star_inside_a_name_is_a_star() {
    assert!(m("a**b", "axxb"));
    assert!(!m("a**b", "ax/xb"));
}

#[test]
fn stars_backtrack() {
    assert!(m("*a*b*c", "xxaxxbxxbxxc"));
    assert!(!m("*a*b*c", "xxaxxbxxbxx"));
    assert!(m("*", "x"));
    assert!(m("x*", "x"));
    assert!(!m("", "x"));
}

#[test]
fn many_double_stars_match_in_linear_time() {
    // Trying every split of the path for every `**` takes C(60, 40) steps here; a set of
    // states takes 60 × 41.
    let pattern = format!("{}nothing", "**/".repeat(40));
    let deep = vec!["d"; 59].join("/") + "/file";
    let glob = GlobPattern::parse(&pattern).unwrap();
    let started = std::time::Instant::now();
    assert!(!glob.matches(&deep));
    assert!(glob.may_match_under(&vec!["d"; 59].join("/")));
    assert!(glob.matches(&(vec!["d"; 59].join("/") + "/nothing")));
    assert!(!glob.matches(&(vec!["d"; 30].join("/") + "/.h/nothing")));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn directories_no_alternative_can_reach_are_skipped() {
    let p = |s: &str| GlobPattern::parse(s).unwrap();
    assert!(p("src/**/*.ts").may_match_under("src"));
    assert!(p("src/**/*.ts").may_match_under("src/a/b"));
    assert!(!p("src/**/*.ts").may_match_under("other"));
    assert!(!p("src/**/*.ts").may_match_under("src/.git"));
    assert!(!p("*.py").may_match_under("sub"));
    assert!(p("**/*.py").may_match_under("a/b"));
    assert!(!p("**/*.py").may_match_under(".hidden"));
    assert!(p("**/.github/*.yml").may_match_under(".github"));
    assert!(p("**/.github/*.yml").may_match_under("a/.github"));
    assert!(!p("**/.github/*.yml").may_match_under("a/.github/x"));
    assert!(p("{src,lib}/*.ts").may_match_under("lib"));
    assert!(!p("{src,lib}/*.ts").may_match_under("lib/x"));
    assert!(p("**").may_match_under("a/b"));
    assert!(p("src/**").may_match_under("src"));
    assert!(!p("src/**").may_match_under(".src"));
}

#[test]
fn a_leading_dot_slash_is_the_base() {
    assert!(m("./src/*.rs", "src/a.rs"));
    assert!(m("././*.rs", "a.rs"));
    assert!(m("{./a,b}/*.rs", "a/x.rs"));
    assert!(!m("./*.rs", "src/a.rs"));
}

#[test]
fn a_slash_in_the_pattern_is_reported() {
    assert!(GlobPattern::parse("src/*.rs").unwrap().has_slash());
    assert!(GlobPattern::parse("{a/b,c}").unwrap().has_slash());
    assert!(!GlobPattern::parse("*.{rs,toml}").unwrap().has_slash());
}
