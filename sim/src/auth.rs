//! The organization API key: Bearer authentication and scope checks.

use std::collections::BTreeSet;

use http::HeaderValue;

use crate::routes::Endpoint;

/// The one key the simulated organization accepts.
pub(crate) struct Credentials {
    api_key: String,
    expired: bool,
    /// `None`: a key without scopes, which may call everything.
    scopes: Option<BTreeSet<String>>,
    /// Scoped keys are refused where no scope is documented.
    strict: bool,
}

impl Credentials {
    pub(crate) fn new(
        api_key: String,
        expired: bool,
        scopes: Option<BTreeSet<String>>,
        strict: bool,
    ) -> Self {
        Credentials {
            api_key,
            expired,
            scopes,
            strict,
        }
    }

    /// Whether `Authorization` carries the key (`Bearer KEY`, scheme case-insensitive per
    /// RFC 9110) and the key is still valid.
    pub(crate) fn authenticates(&self, authorization: Option<&HeaderValue>) -> bool {
        bearer_token(authorization) == Some(self.api_key.as_str()) && !self.expired
    }

    pub(crate) fn api_key(&self) -> &str {
        &self.api_key
    }

    /// Whether the key may call `endpoint`: a key without scopes calls
    /// everything; a scoped key needs the endpoint's scope, and in strict
    /// mode a documented one.
    pub(crate) fn allows(&self, endpoint: Endpoint) -> bool {
        match &self.scopes {
            None => true,
            Some(scopes) => {
                scopes.contains(endpoint.scope()) && (!self.strict || endpoint.scope_documented())
            }
        }
    }
}

/// The token of `Authorization: Bearer TOKEN` (scheme case-insensitive per RFC 9110).
pub(crate) fn bearer_token(authorization: Option<&HeaderValue>) -> Option<&str> {
    let value = authorization?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> HeaderValue {
        HeaderValue::from_str(value).unwrap()
    }

    #[test]
    fn bearer_key_must_match_and_be_unexpired() {
        let live = Credentials::new("k".into(), false, None, false);
        assert!(live.authenticates(Some(&header("Bearer k"))));
        assert!(live.authenticates(Some(&header("bearer k"))));
        assert!(!live.authenticates(Some(&header("Bearer x"))));
        assert!(!live.authenticates(Some(&header("Basic k"))));
        assert!(!live.authenticates(Some(&header("k"))));
        assert!(!live.authenticates(None));
        let expired = Credentials::new("k".into(), true, None, false);
        assert!(!expired.authenticates(Some(&header("Bearer k"))));
    }

    #[test]
    fn unscoped_key_allows_everything_scoped_key_only_its_scopes() {
        assert!(Credentials::new("k".into(), false, None, true).allows(Endpoint::EventsStream));
        let scopes = Some(BTreeSet::from([
            "read:orgs:admin".to_owned(),
            "read:directories:admin".to_owned(),
        ]));
        let scoped = Credentials::new("k".into(), false, scopes.clone(), false);
        assert!(scoped.allows(Endpoint::Org));
        assert!(!scoped.allows(Endpoint::EventsStream));
        assert!(scoped.allows(Endpoint::UsersSearch));
        let strict = Credentials::new("k".into(), false, scopes, true);
        assert!(strict.allows(Endpoint::Users));
        assert!(!strict.allows(Endpoint::UsersSearch));
    }
}
