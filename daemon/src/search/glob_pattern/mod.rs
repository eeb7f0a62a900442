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
mod tests;
