//! [`GlobPattern`]: the seed's glob dialect as a path matcher, pure and unit-tested. A pattern is
//! matched against a whole relative path (`src/a/b.ts`), segment by segment:
//!
//! - `*` is any run of characters within a segment, `?` one character; `[..]`, `[!..]` and
//!   `[^..]` are classes (ranges `a-z`; a `]` first in the class is a member); a `[` without its
//!   `]` is a literal. Nothing but a literal `/` matches `/`.
//! - `{a,b}` is alternation, expanded innermost group first (so groups nest); a `{` without its
//!   `}` is a literal.
//! - A segment that is exactly `**` matches zero or more whole segments in the middle of a
//!   pattern and one or more at its end (so `src/**` matches what is under `src`, not `src`).
//!   Elsewhere `**` is the same as `*`.
//! - Dot rule: a name starting with `.` is matched only by a pattern segment starting with a
//!   literal `.`; `**` never crosses such a name.
//! - A leading `./` is the base itself (`./src/*.rs` is `src/*.rs`).

use std::sync::Arc;

use ssh_mcp_core::ssh::InvalidInput;

/// The most alternatives a pattern's braces may expand to.
pub const MAX_ALTERNATIVES: usize = 1024;
/// The most bytes the alternatives may hold together: matching one path costs at most its length
/// times this, so it bounds the work per path as well as the memory.
pub const MAX_EXPANDED_BYTES: usize = 256 * 1024;

/// A compiled glob: one segment list per brace alternative. Cheap to clone (the walk's matching
/// job holds a copy).
#[derive(Debug, Clone)]
pub struct GlobPattern {
    alternatives: Arc<[Vec<Segment>]>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    /// `**` as a whole segment.
    AnyDepth,
    /// Anything else: the tokens of one name.
    Name(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    AnyChar,
    AnyRun,
    Class {
        negated: bool,
        items: Vec<ClassItem>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum ClassItem {
    One(char),
    Range(char, char),
}

impl GlobPattern {
    pub fn parse(pattern: &str) -> Result<Self, InvalidInput> {
        // A leading `./` names the base itself: paths are matched relative to it.
        let alternatives = expand_braces(pattern)?
            .iter()
            .map(|alt| {
                without_dot_slash(alt)
                    .split('/')
                    .map(parse_segment)
                    .collect()
            })
            .collect();
        Ok(Self { alternatives })
    }

    /// Whether the pattern holds a `/` in any alternative (it then names paths, not only names).
    pub fn has_slash(&self) -> bool {
        self.alternatives.iter().any(|a| a.len() > 1)
    }

    /// Whether some path under the directory `dir` (relative, `/`-separated) could match, so a
    /// walk can skip the directories no alternative can reach.
    pub fn may_match_under(&self, dir: &str) -> bool {
        let names: Vec<&str> = dir.split('/').collect();
        self.alternatives
            .iter()
            .any(|segments| prefix_matches(segments, &names))
    }

    /// Whether `path` (relative, `/`-separated, no leading `./`) matches.
    pub fn matches(&self, path: &str) -> bool {
        let names: Vec<&str> = path.split('/').collect();
        self.alternatives
            .iter()
            .any(|segments| match_segments(segments, &names))
    }
}

/// `alternative` without its leading `./` (any number of them).
pub fn without_dot_slash(mut alternative: &str) -> &str {
    while let Some(rest) = alternative.strip_prefix("./") {
        alternative = rest;
    }
    alternative
}

/// The brace alternatives of `pattern`, innermost group first, duplicates removed in order.
/// Repeats count toward [`MAX_ALTERNATIVES`] (`{,,,,}` ten times is ten million expansions
/// of one alternative), and so does every expansion step, so the work stays bounded.
pub fn expand_braces(pattern: &str) -> Result<Vec<String>, InvalidInput> {
    let mut done = Vec::new();
    let mut finished = 0;
    let mut steps = 0;
    let mut todo = vec![pattern.to_owned()];
    while let Some(p) = todo.pop() {
        steps += 1;
        match innermost_group(&p) {
            None => {
                finished += 1;
                if !done.contains(&p) {
                    done.push(p);
                }
            }
            Some((open, close)) => {
                let (head, body, tail) = (&p[..open], &p[open + 1..close], &p[close + 1..]);
                // Pushed in reverse so they come out in order.
                for alt in body.split(',').rev() {
                    todo.push(format!("{head}{alt}{tail}"));
                }
            }
        }
        if finished + todo.len() > MAX_ALTERNATIVES || steps > 16 * MAX_ALTERNATIVES {
            return Err(InvalidInput(format!(
                "the glob {pattern:?} expands to more than {MAX_ALTERNATIVES} alternatives \
                 (counting repeated ones)"
            )));
        }
        let bytes: usize = done.iter().chain(&todo).map(String::len).sum();
        if bytes > MAX_EXPANDED_BYTES {
            return Err(InvalidInput(format!(
                "the glob's brace alternatives hold more than {} KiB together; write a shorter \
                 glob or fewer alternatives",
                MAX_EXPANDED_BYTES / 1024
            )));
        }
    }
    Ok(done)
}

/// Byte offsets of the first `{` whose `}` comes before any other brace.
fn innermost_group(p: &str) -> Option<(usize, usize)> {
    let mut open = None;
    for (i, c) in p.char_indices() {
        match c {
            '{' => open = Some(i),
            '}' => {
                if let Some(o) = open {
                    return Some((o, i));
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_segment(s: &str) -> Segment {
    if s == "**" {
        return Segment::AnyDepth;
    }
    let chars: Vec<char> = s.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                if tokens.last() != Some(&Token::AnyRun) {
                    tokens.push(Token::AnyRun);
                }
                i += 1;
            }
            '?' => {
                tokens.push(Token::AnyChar);
                i += 1;
            }
            '[' => match parse_class(&chars, i) {
                Some((class, next)) => {
                    tokens.push(class);
                    i = next;
                }
                None => {
                    tokens.push(Token::Literal('['));
                    i += 1;
                }
            },
            c => {
                tokens.push(Token::Literal(c));
                i += 1;
            }
        }
    }
    Segment::Name(tokens)
}

/// The class opening at `chars[start]` (a `[`) and the index after its `]`; `None` when the
/// class is not closed.
fn parse_class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start + 1;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let first = i;
    let mut items = Vec::new();
    loop {
        let c = *chars.get(i)?;
        if c == ']' && i > first {
            return Some((Token::Class { negated, items }, i + 1));
        }
        match (chars.get(i + 1), chars.get(i + 2)) {
            (Some('-'), Some(&hi)) if hi != ']' => {
                items.push(ClassItem::Range(c, hi));
                i += 3;
            }
            _ => {
                items.push(ClassItem::One(c));
                i += 1;
            }
        }
    }
}

/// The state after `names[..k]` for some `k`: an index into `segments` (what matches next), or
/// `segments.len()` once every segment has matched. The states of one path form a set, so a
/// path of n names against m segments costs at most n × m name matches, whatever the number of
/// `**`: the exponential search of trying every split for every `**` never happens.
type States = Vec<bool>;

/// The states reachable from `states` without taking a name: a `**` in the middle of a pattern
/// may match zero names, so its state also stands for the one after it.
fn closure(segments: &[Segment], states: &mut States) {
    for i in 0..segments.len() {
        if states[i] && segments[i] == Segment::AnyDepth && i + 1 < segments.len() {
            states[i + 1] = true;
        }
    }
}

/// The states after taking `name` from `states` (closed).
fn step(segments: &[Segment], states: &States, name: &str) -> States {
    let mut next = vec![false; segments.len() + 1];
    for (i, segment) in segments.iter().enumerate() {
        if !states[i] {
            continue;
        }
        match segment {
            // `**` takes any non-hidden name and stays; at the end of the pattern, the name may
            // also be its last.
            Segment::AnyDepth => {
                if !name.starts_with('.') {
                    next[i] = true;
                    if i + 1 == segments.len() {
                        next[i + 1] = true;
                    }
                }
            }
            Segment::Name(tokens) => {
                if match_name(tokens, name) {
                    next[i + 1] = true;
                }
            }
        }
    }
    closure(segments, &mut next);
    next
}

/// The states after taking every name of `names`, or `None` once no state is left.
fn run(segments: &[Segment], names: &[&str]) -> Option<States> {
    let mut states = vec![false; segments.len() + 1];
    states[0] = true;
    closure(segments, &mut states);
    for name in names {
        states = step(segments, &states, name);
        if !states.contains(&true) {
            return None;
        }
    }
    Some(states)
}

/// Whether `names` match `segments` as a whole. A `**` in the middle matches zero or more
/// names, at the end one or more, and never a hidden one.
fn match_segments(segments: &[Segment], names: &[&str]) -> bool {
    run(segments, names).is_some_and(|states| states[segments.len()])
}

/// Whether `names` (a directory) can be the start of a path matching `segments`: some state
/// after them still has a segment to match (a file under the directory is one more name).
fn prefix_matches(segments: &[Segment], names: &[&str]) -> bool {
    run(segments, names).is_some_and(|states| states[..segments.len()].contains(&true))
}

/// One name against one segment's tokens, with the dot rule.
fn match_name(tokens: &[Token], name: &str) -> bool {
    if name.starts_with('.') && tokens.first() != Some(&Token::Literal('.')) {
        return false;
    }
    let chars: Vec<char> = name.chars().collect();
    // Wildcard matching with backtracking to the last `*` only (a segment has no `/`, so a later
    // `*` can always absorb what an earlier one would): at most name × tokens steps.
    let (mut t, mut c) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while c < chars.len() {
        match tokens.get(t) {
            Some(Token::AnyRun) => {
                star = Some((t, c));
                t += 1;
                continue;
            }
            Some(tok) if token_matches(tok, chars[c]) => {
                t += 1;
                c += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((st, sc)) => {
                t = st + 1;
                c = sc + 1;
                star = Some((st, sc + 1));
            }
            None => return false,
        }
    }
    tokens[t..].iter().all(|tok| *tok == Token::AnyRun)
}

fn token_matches(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(l) => *l == c,
        Token::AnyChar => true,
        Token::AnyRun => false,
        Token::Class { negated, items } => {
            let inside = items.iter().any(|item| match *item {
                ClassItem::One(x) => x == c,
                ClassItem::Range(lo, hi) => (lo..=hi).contains(&c),
            });
            inside != *negated
        }
    }
}

#[cfg(test)]
mod tests {
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
}
