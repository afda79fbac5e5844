//! The organization API key: Bearer authentication and scope checks.

use std::collections::BTreeSet;

use http::HeaderValue;

/// The one key the simulated organization accepts.
pub(crate) struct Credentials {
    api_key: String,
    expired: bool,
    /// `None`: a key without scopes, which may call everything.
    scopes: Option<BTreeSet<String>>,
}

impl Credentials {
    pub(crate) fn new(api_key: String, expired: bool, scopes: Option<BTreeSet<String>>) -> Self {
        Credentials {
            api_key,
            expired,
            scopes,
        }
    }

    /// Whether `Authorization` carries the key (`Bearer KEY`, scheme case-insensitive per
    /// RFC 9110) and the key is still valid.
    pub(crate) fn authenticates(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some(value) = authorization.and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Some((scheme, token)) = value.split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer") && token.trim() == self.api_key && !self.expired
    }

    pub(crate) fn allows(&self, scope: &str) -> bool {
        self.scopes.as_ref().is_none_or(|s| s.contains(scope))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> HeaderValue {
        HeaderValue::from_str(value).unwrap()
    }

    #[test]
    fn bearer_key_must_match_and_be_unexpired() {
        let live = Credentials::new("k".into(), false, None);
        assert!(live.authenticates(Some(&header("Bearer k"))));
        assert!(live.authenticates(Some(&header("bearer k"))));
        assert!(!live.authenticates(Some(&header("Bearer x"))));
        assert!(!live.authenticates(Some(&header("Basic k"))));
        assert!(!live.authenticates(Some(&header("k"))));
        assert!(!live.authenticates(None));
        let expired = Credentials::new("k".into(), true, None);
        assert!(!expired.authenticates(Some(&header("Bearer k"))));
    }

    #[test]
    fn unscoped_key_allows_everything_scoped_key_only_its_scopes() {
        assert!(Credentials::new("k".into(), false, None).allows("read:events:admin"));
        let scoped = Credentials::new(
            "k".into(),
            false,
            Some(BTreeSet::from(["read:orgs:admin".to_owned()])),
        );
        assert!(scoped.allows("read:orgs:admin"));
        assert!(!scoped.allows("read:events:admin"));
    }
}
