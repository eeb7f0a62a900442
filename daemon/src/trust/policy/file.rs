//! The policy file's text → a validated [`Policy`]: the TOML shape users write (see README,
//! "Policy and audit"), every mistake reported with its line and column, nothing guessed. A
//! missing section or key takes the built-in default.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::{ClassSet, Local, Policy, Rule, TargetRule};
use crate::door::Class;

/// Why a policy file cannot be used, with where in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct PolicyError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl PolicyError {
    fn at(text: &str, span: Option<Range<usize>>, message: impl Into<String>) -> Self {
        let mut start = span.map_or(0, |s| s.start).min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let before = &text[..start];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Self {
            line,
            column,
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    default: Option<RuleShape>,
    #[serde(default)]
    target: Vec<TargetShape>,
    local: Option<LocalShape>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleShape {
    allow: Option<Vec<Spanned<String>>>,
    ask: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetShape {
    #[serde(rename = "match")]
    patterns: Spanned<Vec<Spanned<String>>>,
    allow: Option<Vec<Spanned<String>>>,
    ask: Option<Vec<Spanned<String>>>,
    deny: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalShape {
    read: Option<Vec<Spanned<String>>>,
    write: Option<Vec<Spanned<String>>>,
    ssh_files: Option<Vec<Spanned<String>>>,
    upload_secrets: Option<bool>,
    download_into_protected: Option<bool>,
}

/// Parses and validates a policy file's text.
pub fn parse(text: &str) -> Result<Policy, PolicyError> {
    let shape: FileShape = toml::from_str(text)
        .map_err(|e| PolicyError::at(text, e.span(), e.message().trim_end().to_owned()))?;
    let default = match shape.default {
        Some(r) => rule(text, r.allow, r.ask)?,
        None => Rule::default(),
    };
    let mut targets = Vec::with_capacity(shape.target.len());
    for t in shape.target {
        let span = t.patterns.span();
        let patterns = t.patterns.into_inner();
        if patterns.is_empty() {
            return Err(PolicyError::at(
                text,
                Some(span),
                "`match` needs at least one host glob",
            ));
        }
        let mut globs = Vec::with_capacity(patterns.len());
        for p in patterns {
            globs.push(host_glob(text, p)?);
        }
        let deny = t.deny.as_ref().is_some_and(|d| *d.get_ref());
        if deny && (t.allow.is_some() || t.ask.is_some()) {
            return Err(PolicyError::at(
                text,
                t.deny.map(|d| d.span()),
                "`deny = true` refuses every class, so it cannot be combined with `allow` or `ask`",
            ));
        }
        let rule = if deny {
            Rule {
                allow: ClassSet::EMPTY,
                ask: ClassSet::EMPTY,
            }
        } else {
            rule(text, t.allow, t.ask)?
        };
        targets.push(TargetRule {
            patterns: globs,
            rule,
            deny,
        });
    }
    let local = match shape.local {
        Some(l) => local(text, l)?,
        None => Local::default(),
    };
    Ok(Policy {
        default,
        targets,
        local,
    })
}

fn rule(
    text: &str,
    allow: Option<Vec<Spanned<String>>>,
    ask: Option<Vec<Spanned<String>>>,
) -> Result<Rule, PolicyError> {
    let defaults = Rule::default();
    Ok(Rule {
        allow: match allow {
            Some(list) => classes(text, list)?,
            None => defaults.allow,
        },
        ask: match ask {
            Some(list) => classes(text, list)?,
            None => defaults.ask,
        },
    })
}

fn classes(text: &str, list: Vec<Spanned<String>>) -> Result<ClassSet, PolicyError> {
    let mut set = ClassSet::EMPTY;
    for item in list {
        let name = item.get_ref().as_str();
        match Class::POLICY.iter().find(|c| c.name() == name) {
            Some(c) => set.insert(*c),
            None => {
                let known: Vec<&str> = Class::POLICY.iter().map(|c| c.name()).collect();
                return Err(PolicyError::at(
                    text,
                    Some(item.span()),
                    format!(
                        "unknown tool class {name:?}: the classes are {}",
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(set)
}

fn host_glob(text: &str, p: Spanned<String>) -> Result<String, PolicyError> {
    let span = p.span();
    let glob = p.into_inner();
    let bad = if glob.is_empty() {
        Some("an empty host glob matches nothing")
    } else if glob.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Some("a host glob cannot contain spaces or control characters")
    } else if glob.starts_with('!') {
        Some("negation (`!`) is not supported: put a narrower [[target]] before a wider one")
    } else {
        None
    };
    match bad {
        Some(m) => Err(PolicyError::at(text, Some(span), m)),
        None => Ok(glob),
    }
}

fn local(text: &str, l: LocalShape) -> Result<Local, PolicyError> {
    let defaults = Local::default();
    Ok(Local {
        read: match l.read {
            Some(list) => local_paths(text, list)?,
            None => defaults.read,
        },
        write: match l.write {
            Some(list) => local_paths(text, list)?,
            None => defaults.write,
        },
        ssh_files: match l.ssh_files {
            Some(list) => local_paths(text, list)?,
            None => defaults.ssh_files,
        },
        upload_secrets: l.upload_secrets.unwrap_or(defaults.upload_secrets),
        download_into_protected: l
            .download_into_protected
            .unwrap_or(defaults.download_into_protected),
    })
}

fn local_paths(text: &str, list: Vec<Spanned<String>>) -> Result<Vec<String>, PolicyError> {
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        let span = item.span();
        let path = item.into_inner();
        if !(path == "~" || path.starts_with("~/") || path.starts_with('/')) || path.contains('\0')
        {
            return Err(PolicyError::at(
                text,
                Some(span),
                format!("{path:?} is not an absolute path or one under `~/`"),
            ));
        }
        out.push(path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_text_is_the_default_policy() {
        let p = parse("").unwrap();
        assert_eq!(p.default, Rule::default());
        assert!(p.targets.is_empty());
        assert_eq!(p.local, Local::default());
    }

    #[test]
    fn the_readme_example_parses() {
        let p = parse(
            r#"
[default]
allow = ["read", "write", "exec", "session", "transfer", "forward"]
ask = []

[[target]]
match = ["prod-*", "*.prod.example.com"]
allow = ["read"]
ask = ["exec", "session"]

[[target]]
match = ["bastion"]
deny = true

[local]
read = ["~"]
write = ["~", "/tmp"]
"#,
        )
        .unwrap();
        assert_eq!(p.targets.len(), 2);
        assert!(p.targets[0].rule.allow.contains(Class::Read));
        assert!(!p.targets[0].rule.allow.contains(Class::Exec));
        assert!(p.targets[0].rule.ask.contains(Class::Session));
        assert!(p.targets[1].deny);
    }

    #[test]
    fn mistakes_name_their_line_and_column() {
        let e = parse("[default]\nallow = [\"read\", \"exce\"]\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 18), "{e}");
        assert!(e.message.contains("unknown tool class \"exce\""), "{e}");

        let e = parse("[default]\nallow = [\"read\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");

        let e = parse("[[target]]\nmatch = [\"a\"]\nalow = [\"read\"]\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("alow"), "{e}");

        let e = parse("[[target]]\nmatch = []\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");

        let e =
            parse("[[target]]\nmatch = [\"b\"]\ndeny = true\nallow = [\"read\"]\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");

        let e = parse("[local]\nread = [\"relative/dir\"]\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 9), "{e}");

        let e = parse("[[target]]\nallow = [\"read\"]\n").unwrap_err();
        assert!(e.message.contains("match"), "{e}");
    }

    #[test]
    fn a_missing_key_takes_its_default() {
        let p = parse("[[target]]\nmatch = [\"x\"]\nask = [\"exec\"]\n").unwrap();
        assert_eq!(p.targets[0].rule.allow, Rule::default().allow);
        assert!(p.targets[0].rule.ask.contains(Class::Exec));
        let p = parse("[local]\nupload_secrets = true\n").unwrap();
        assert!(p.local.upload_secrets);
        assert_eq!(p.local.read, Local::default().read);
    }
}
