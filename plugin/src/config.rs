//! The `configure` input: checked completely, before any request, and
//! refused with every problem at once so the operator fixes them in one go.

use crate::api::Segment;
use crate::contract::{ConfigEntry, FieldProblem};
use crate::failure::Failure;

pub const ORG_ID: &str = "org-id";
pub const API_KEY: &str = "api-key";
pub const MAX_ORG_ADMINS: &str = "max-org-admins";

/// Org admins above this count fail `org-admin-count` unless configured
/// otherwise: enough for cover (at least two) while keeping the most
/// powerful role rare.
pub const DEFAULT_MAX_ORG_ADMINS: u32 = 5;
const MIN_ORG_ADMINS: u32 = 2;
const MAX_ORG_ID_LEN: usize = 64;

/// A checked configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The organization id, as a URL path segment.
    pub org: Segment,
    /// The most org admins `org-admin-count` accepts (at least 2).
    pub max_org_admins: u32,
}

/// Reads the entries. Unknown fields, repeated fields and the secret are
/// refused too: a typo must not silently fall back to a default, and the API
/// key belongs to the host alone.
pub fn parse(entries: &[ConfigEntry]) -> Result<Config, Failure> {
    let mut problems = Vec::new();
    let mut problem = |field: &str, text: String| {
        problems.push(FieldProblem {
            field: field.to_owned(),
            problem: text,
        })
    };
    let mut org = None;
    let mut max_org_admins = None;
    for (i, entry) in entries.iter().enumerate() {
        if entries[..i].iter().any(|e| e.name == entry.name) {
            problem(&entry.name, "given more than once".into());
            continue;
        }
        match entry.name.as_str() {
            ORG_ID => match org_id(&entry.value) {
                Ok(segment) => org = Some(segment),
                Err(text) => problem(ORG_ID, text),
            },
            MAX_ORG_ADMINS => match entry.value.parse::<u32>() {
                Ok(n) if n >= MIN_ORG_ADMINS => max_org_admins = Some(n),
                _ => problem(
                    MAX_ORG_ADMINS,
                    format!(
                        "must be a whole number of at least {MIN_ORG_ADMINS}, such as {DEFAULT_MAX_ORG_ADMINS}"
                    ),
                ),
            },
            API_KEY => problem(
                API_KEY,
                "is a secret: the host sends it to Atlassian itself and must never pass it to the integration".into(),
            ),
            other => problem(
                other,
                format!("unknown field; the fields are {ORG_ID} and {MAX_ORG_ADMINS}"),
            ),
        }
    }
    if org.is_none() && !entries.iter().any(|e| e.name == ORG_ID) {
        problem(
            ORG_ID,
            "is required: the Organization ID shown in admin.atlassian.com → Settings → API keys"
                .into(),
        );
    }
    match org {
        Some(org) if problems.is_empty() => Ok(Config {
            org,
            max_org_admins: max_org_admins.unwrap_or(DEFAULT_MAX_ORG_ADMINS),
        }),
        _ => Err(Failure::InvalidConfig(problems)),
    }
}

/// An Atlassian organization id: a UUID in practice; accepted as letters,
/// digits and inner hyphens, which refuses everything that could change the
/// request (slashes, dots, spaces, query or fragment characters, escapes).
fn org_id(value: &str) -> Result<Segment, String> {
    let well_formed = !value.is_empty()
        && value.len() <= MAX_ORG_ID_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !well_formed {
        return Err(format!(
            "{value:?} is not an Organization ID: it is shown in admin.atlassian.com → Settings → API keys and looks like 6a1b2c3d-4e5f-6789-abcd-ef0123456789 (letters, digits and hyphens only)"
        ));
    }
    Segment::new(value).map_err(|refused| refused.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, value: &str) -> ConfigEntry {
        ConfigEntry {
            name: name.into(),
            value: value.into(),
        }
    }

    fn problems(entries: &[ConfigEntry]) -> Vec<FieldProblem> {
        match parse(entries) {
            Err(Failure::InvalidConfig(p)) => p,
            other => panic!("expected invalid-config, got {other:?}"),
        }
    }

    #[test]
    fn a_uuid_org_id_is_accepted_with_the_default_maximum() {
        let config = parse(&[entry(ORG_ID, "6a1b2c3d-4e5f-6789-abcd-ef0123456789")]).unwrap();
        assert_eq!(config.org.raw(), "6a1b2c3d-4e5f-6789-abcd-ef0123456789");
        assert_eq!(config.max_org_admins, DEFAULT_MAX_ORG_ADMINS);
        let config = parse(&[entry(ORG_ID, "abc123"), entry(MAX_ORG_ADMINS, "8")]).unwrap();
        assert_eq!(config.max_org_admins, 8);
    }

    #[test]
    fn malformed_org_ids_are_refused() {
        for bad in [
            "",
            " ",
            "a b",
            "a/b",
            "..",
            "a..b",
            "a?b",
            "a#b",
            "a%2Fb",
            "-",
            "-a",
            "a-",
            "ä",
            &"a".repeat(65),
        ] {
            let p = problems(&[entry(ORG_ID, bad)]);
            assert_eq!(p.len(), 1, "{bad:?}");
            assert_eq!(p[0].field, ORG_ID);
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let p = problems(&[
            entry(MAX_ORG_ADMINS, "1"),
            entry(API_KEY, "do-not-pass-me"),
            entry("orgid", "typo"),
        ]);
        let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, [MAX_ORG_ADMINS, API_KEY, "orgid", ORG_ID]);
        assert!(!format!("{p:?}").contains("do-not-pass-me"));
        let p = problems(&[entry(ORG_ID, "a"), entry(ORG_ID, "b")]);
        assert_eq!(p[0].problem, "given more than once");
    }
}
