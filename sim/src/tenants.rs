//! The tenants file a multi-tenant worker reads (`watchdog-worker --tenants`): one JSON line
//! per organization served, with what a run against it needs.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::PUBLIC_ORIGIN;
use crate::server::{SimHandle, SimOrg};

/// One line: `{"tenant","config":{"org-id"},"secrets":{"api-key"},"routes":{ORIGIN: URL}}`.
#[derive(Debug, Serialize)]
pub struct Tenant<'a> {
    pub tenant: String,
    pub config: TenantConfig<'a>,
    pub secrets: TenantSecrets<'a>,
    /// The public origin rerouted to the simulator.
    pub routes: BTreeMap<&'static str, String>,
}

/// The integration's configuration for the tenant.
#[derive(Debug, Serialize)]
pub struct TenantConfig<'a> {
    #[serde(rename = "org-id")]
    pub org_id: &'a str,
}

/// The tenant's secrets: the organization's (synthetic) key.
#[derive(Debug, Serialize)]
pub struct TenantSecrets<'a> {
    #[serde(rename = "api-key")]
    pub api_key: &'a str,
}

/// The tenant name of the organization at `index`: `t0001` for the first.
pub fn tenant_name(index: usize) -> String {
    format!("t{:04}", index + 1)
}

impl SimHandle {
    /// The tenant of every organization, in order.
    pub fn tenants(&self) -> impl Iterator<Item = Tenant<'_>> {
        let base_url = self.base_url();
        self.orgs()
            .iter()
            .enumerate()
            .map(move |(i, org)| tenant(i, org, &base_url))
    }

    /// Writes [`SimHandle::tenants`] as JSON lines.
    pub fn write_tenants(&self, mut out: impl Write) -> io::Result<()> {
        for tenant in self.tenants() {
            serde_json::to_writer(&mut out, &tenant)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
}

fn tenant<'a>(index: usize, org: &'a SimOrg, base_url: &str) -> Tenant<'a> {
    Tenant {
        tenant: tenant_name(index),
        config: TenantConfig {
            org_id: org.org_id(),
        },
        secrets: TenantSecrets {
            api_key: org.api_key(),
        },
        routes: BTreeMap::from([(PUBLIC_ORIGIN, base_url.to_owned())]),
    }
}
