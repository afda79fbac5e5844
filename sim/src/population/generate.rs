//! Builds an organization from `(seed, users)`: directories, workspaces, users, groups, roles,
//! domains, policies and API tokens.
//!
//! Proportions are exact rather than sampled: [`spread`] deals out categories in fixed shares
//! (with at least one of each once there are enough users) and shuffles them, so even a small
//! population covers every status and every posture finding, and counts scale linearly.

use super::model::*;
use crate::clock::{DAY_MS, NOW_MS};
use crate::prng::{SplitMix64, mix};

/// Stream labels: each part of the population draws from its own stream, so changing how one
/// part is generated does not reshuffle the others.
pub(super) mod stream {
    pub const ORG: u64 = 1;
    pub const USER: u64 = 2;
    pub const PRODUCTS: u64 = 3;
    pub const TOKENS: u64 = 4;
    pub const EVENTS: u64 = 5;
    pub const CURSORS: u64 = 6;
}

pub(super) const EMPLOYEES: usize = 0;
pub(super) const CONTRACTORS: usize = 1;
const JIRA: usize = 0;
const CONFLUENCE: usize = 1;

/// The workspace a product lives in.
pub(super) fn workspace_of(product: Product) -> usize {
    match product {
        Product::JiraSoftware | Product::JiraServiceManagement => JIRA,
        Product::Confluence => CONFLUENCE,
    }
}

const ORG_NAMES: [&str; 5] = ["Acme", "Globex", "Initech", "Umbrella", "Hooli"];
const FIRST_NAMES: [&str; 32] = [
    "Avery", "Blake", "Casey", "Devon", "Emery", "Finley", "Gray", "Harper", "Indigo", "Jordan",
    "Kai", "Logan", "Morgan", "Noel", "Oakley", "Parker", "Quinn", "Reese", "Sage", "Taylor",
    "Umber", "Val", "Wren", "Xen", "Yael", "Zion", "Arden", "Bellamy", "Cruz", "Dallas", "Ellis",
    "Frankie",
];
const LAST_NAMES: [&str; 32] = [
    "Abbott", "Baker", "Chen", "Dorsey", "Eriksen", "Fischer", "Garcia", "Hughes", "Ito", "Jensen",
    "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quintero", "Rossi", "Silva",
    "Tanaka", "Ueda", "Varga", "Weber", "Xu", "Yilmaz", "Zhang", "Andersen", "Bianchi", "Costa",
    "Dubois", "Evans", "Fontaine",
];
/// Employee departments; each has a synced group of the same name.
const DEPARTMENTS: [(&str, &str, &str); 8] = [
    ("engineering", "Engineering", "Software Engineer"),
    ("security", "Security", "Security Engineer"),
    ("finance", "Finance", "Financial Analyst"),
    ("support", "Support", "Support Specialist"),
    ("sales", "Sales", "Account Executive"),
    ("marketing", "Marketing", "Marketing Manager"),
    ("people-ops", "People Operations", "People Partner"),
    ("it-operations", "IT Operations", "Systems Administrator"),
];
const TIME_ZONES: [&str; 6] = [
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
];
const TOKEN_LABELS: [&str; 8] = [
    "automation",
    "ci-pipeline",
    "backup-script",
    "reporting",
    "migration",
    "cli",
    "integration-test",
    "dashboard",
];

/// Deals out `n` items in the given shares and shuffles them. Every category with a positive
/// share gets at least one item once `n` is at least the number of categories; the first
/// category (the majority) absorbs the rounding.
fn spread<T: Copy>(rng: &mut SplitMix64, n: usize, shares: &[(T, usize)]) -> Vec<T> {
    let total: usize = shares.iter().map(|(_, s)| s).sum();
    let mut out = Vec::with_capacity(n);
    for &(value, share) in &shares[1..] {
        let mut count = n * share / total;
        if count == 0 && share > 0 && n >= shares.len() {
            count = 1;
        }
        out.extend(std::iter::repeat_n(value, count));
    }
    out.truncate(n);
    out.extend(std::iter::repeat_n(shares[0].0, n - out.len()));
    rng.shuffle(&mut out);
    out
}

/// A timestamp `lo..=hi` days (at millisecond granularity) before [`NOW_MS`].
fn days_ago(rng: &mut SplitMix64, lo: i64, hi: i64) -> i64 {
    NOW_MS - rng.between(lo * DAY_MS, hi * DAY_MS)
}

/// How recently a user used their products, or a token was used. The gap between the two dated
/// kinds is what keeps inactivity checks stable across runs (see [`NOW_MS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activity {
    /// 1 to 14 days before now.
    Recent,
    /// Over 200 days before now (users: 201 to 400 days; tokens: 240 to 280).
    Stale,
    /// Never used; such users joined over 400 days, and such tokens were created over 200
    /// days, before now.
    Never,
}

/// Everything generated up front (the audit log is generated on demand).
pub(super) struct Org {
    pub id: String,
    pub name: String,
    pub site_id: String,
    pub directories: Vec<Directory>,
    pub workspaces: Vec<Workspace>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub domains: Vec<Domain>,
    pub policies: Vec<Policy>,
    pub api_tokens: Vec<ApiToken>,
    pub api_keys: Vec<ApiKey>,
}

/// The organization's id: the first draw of its stream, so it is known without building it.
pub(super) fn org_id(seed: u64) -> String {
    SplitMix64::new(mix(seed, stream::ORG)).uuid()
}

pub(super) fn organization(seed: u64, user_count: usize) -> Org {
    let mut rng = SplitMix64::new(mix(seed, stream::ORG));
    let id = rng.uuid();
    let site_id = rng.uuid();
    let org_name = *rng.pick(&ORG_NAMES);
    let slug = org_name.to_ascii_lowercase();
    let directories = vec![
        Directory {
            id: rng.uuid(),
            name: "Employees",
        },
        Directory {
            id: rng.uuid(),
            name: "Contractors",
        },
    ];
    let workspaces = workspaces(&mut rng, &slug);
    let mut users = users(seed, &mut rng, user_count);
    let groups = groups(&mut rng, &mut users);
    let domains = domains(&mut rng);
    let policies = policies(&mut rng);
    let api_tokens = api_tokens(seed, &users);
    let mut api_keys = api_keys(&mut rng);
    api_keys.extend(super::keys::expiring_soon(seed));
    Org {
        id,
        name: format!("{org_name} Example Org"),
        site_id,
        directories,
        workspaces,
        users,
        groups,
        domains,
        policies,
        api_tokens,
        api_keys,
    }
}

/// Two org admin API keys: the collector's own, and an older automation key.
fn api_keys(rng: &mut SplitMix64) -> Vec<ApiKey> {
    ["WatchDog read-only", "Provisioning automation"]
        .into_iter()
        .map(|name| {
            let created_ms = days_ago(rng, 10, 300);
            ApiKey {
                id: rng.uuid(),
                name,
                created_ms,
                expires_ms: created_ms + 365 * DAY_MS,
            }
        })
        .collect()
}

fn workspaces(rng: &mut SplitMix64, slug: &str) -> Vec<Workspace> {
    let workspace = |rng: &mut SplitMix64, name: String, type_key, status, sandbox| Workspace {
        id: rng.uuid(),
        host_url: format!("{name}.example.com"),
        name,
        type_key,
        status,
        sandbox,
        created_ms: days_ago(rng, 400, 2000),
    };
    // Order matters: JIRA and CONFLUENCE index the first two.
    vec![
        workspace(rng, slug.to_owned(), "jira", "online", false),
        workspace(rng, format!("{slug}-wiki"), "confluence", "online", false),
        workspace(rng, format!("{slug}-sandbox"), "jira", "online", true),
        workspace(
            rng,
            format!("{slug}-legacy"),
            "confluence",
            "deprecated",
            false,
        ),
    ]
}

/// The statuses, directories, claims, MFA and roles are dealt out population-wide first; then
/// each user's own details come from their own stream.
fn users(seed: u64, rng: &mut SplitMix64, n: usize) -> Vec<User> {
    use UserStatus::*;
    let statuses = spread(
        rng,
        n,
        &[
            (Active, 78),
            (Suspended, 6),
            (NotInvited, 5),
            (Deactivated, 7),
            (ForDeletion, 4),
        ],
    );
    let directories = spread(rng, n, &[(EMPLOYEES, 90), (CONTRACTORS, 10)]);
    let mut mfa = spread(rng, n, &[(true, 70), (false, 30)]);

    // Only the organization can deactivate or delete an account, so only managed accounts are
    // deactivated or pending deletion; 15% of all accounts are unmanaged.
    let mut claims = vec![ClaimStatus::Managed; n];
    let mut may_be_unmanaged: Vec<usize> = (0..n)
        .filter(|&i| matches!(statuses[i], Active | Suspended | NotInvited))
        .collect();
    rng.shuffle(&mut may_be_unmanaged);
    for &i in may_be_unmanaged.iter().take(n * 15 / 100) {
        claims[i] = ClaimStatus::Unmanaged;
    }

    // Admins are active managed employees: 3 to 6 org admins (the first without 2SV, the
    // second with it) and 1% site admins (at least 2).
    let mut staff: Vec<usize> = (0..n)
        .filter(|&i| {
            statuses[i] == Active
                && claims[i] == ClaimStatus::Managed
                && directories[i] == EMPLOYEES
        })
        .collect();
    rng.shuffle(&mut staff);
    let org_admin_count = (3 + rng.below(4) as usize).min(staff.len());
    let (org_admins, rest) = staff.split_at(org_admin_count);
    let site_admins = &rest[..(n / 100).max(2).min(rest.len())];
    for (k, &i) in org_admins.iter().take(2).enumerate() {
        mfa[i] = k == 1;
    }
    let mut is_org_admin = vec![false; n];
    let mut is_site_admin = vec![false; n];
    org_admins.iter().for_each(|&i| is_org_admin[i] = true);
    site_admins.iter().for_each(|&i| is_site_admin[i] = true);

    let products: Vec<Vec<Product>> = (0..n)
        .map(|i| {
            let mut rng = SplitMix64::for_item(seed, stream::PRODUCTS, i as u64);
            products_for(&mut rng, statuses[i], directories[i], is_site_admin[i])
        })
        .collect();
    let with_access: Vec<usize> = (0..n).filter(|&i| !products[i].is_empty()).collect();
    let mut activity = vec![Activity::Recent; n];
    let dealt = spread(
        rng,
        with_access.len(),
        &[
            (Activity::Recent, 75),
            (Activity::Stale, 15),
            (Activity::Never, 10),
        ],
    );
    for (&i, kind) in with_access.iter().zip(dealt) {
        activity[i] = kind;
    }
    for &i in org_admins {
        activity[i] = Activity::Recent;
    }

    let first_offset = rng.below(FIRST_NAMES.len() as u64) as usize;
    let last_offset = rng.below(LAST_NAMES.len() as u64) as usize;
    let mut users: Vec<User> = (0..n)
        .map(|i| {
            let mut rng = SplitMix64::for_item(seed, stream::USER, i as u64);
            let first = FIRST_NAMES[(i + first_offset) % FIRST_NAMES.len()];
            let last = LAST_NAMES[(i / FIRST_NAMES.len() + last_offset) % LAST_NAMES.len()];
            // Names repeat after 1,024 users; a numeric suffix keeps emails unique.
            let round = i / (FIRST_NAMES.len() * LAST_NAMES.len());
            let suffix = if round == 0 {
                String::new()
            } else {
                (round + 1).to_string()
            };
            let managed = claims[i] == ClaimStatus::Managed;
            let domain = match (managed, directories[i]) {
                (false, _) => "example.net",
                (true, CONTRACTORS) => "example.org",
                (true, _) if rng.percent(10) => "example.org",
                (true, _) => "example.com",
            };
            let (_, department, title) = if directories[i] == CONTRACTORS {
                ("contractors", "External", "Contractor")
            } else {
                *rng.pick(&DEPARTMENTS)
            };
            let added_to_org_ms = match activity[i] {
                Activity::Recent => days_ago(&mut rng, 15, 1500),
                Activity::Stale | Activity::Never => days_ago(&mut rng, 401, 1500),
            };
            let deactivated_on_ms = match statuses[i] {
                // Deactivated some time after joining; pending deletion for under 14 days.
                Deactivated => Some(rng.between(added_to_org_ms, NOW_MS - DAY_MS)),
                ForDeletion => Some(days_ago(&mut rng, 1, 13)),
                _ => None,
            };
            let product_access = products[i]
                .iter()
                .map(|&product| ProductAccess {
                    product,
                    workspace: workspace_of(product),
                    last_active_ms: match activity[i] {
                        Activity::Recent => Some(days_ago(&mut rng, 1, 14)),
                        Activity::Stale => Some(days_ago(&mut rng, 201, 400)),
                        Activity::Never => None,
                    },
                })
                .collect();
            let time_zone = *rng.pick(&TIME_ZONES);
            User {
                account_id: if rng.percent(85) {
                    format!("712020:{}", rng.uuid())
                } else {
                    format!("{:016x}{:08x}", rng.next_u64(), rng.next_u64() as u32)
                },
                name: format!("{first} {last}"),
                nickname: first.to_ascii_lowercase(),
                email: format!(
                    "{}.{}{suffix}@{domain}",
                    first.to_ascii_lowercase(),
                    last.to_ascii_lowercase()
                ),
                email_hidden: !managed && rng.percent(20),
                email_verified: managed || rng.percent(80),
                directory: directories[i],
                listed_in: vec![directories[i]],
                auth_policy: AuthPolicy::Default,
                status: statuses[i],
                claim_status: claims[i],
                management_source: match statuses[i] {
                    NotInvited => None,
                    _ if managed && directories[i] == EMPLOYEES && rng.percent(70) => {
                        Some(ManagementSource::Synced)
                    }
                    _ => Some(ManagementSource::Invited),
                },
                mfa_enabled: mfa[i],
                org_admin: is_org_admin[i],
                site_admin: is_site_admin[i],
                added_to_org_ms,
                deactivated_on_ms,
                product_access,
                groups: Vec::new(),
                job_title: title,
                department,
                time_zone,
            }
        })
        .collect();
    assign_auth_policies(&mut users, org_admins);
    place_org_admins(&mut users, org_admins);
    users
}

/// Authentication policies, dealt by position so the rest of the population stays as it was:
/// two thirds of the accounts synced from the identity provider are under single sign-on (and
/// report `mfaEnabled: false`, as Atlassian does for them), other managed accounts alternate
/// between enforced 2SV and the default policy. The first org admin (no 2SV) is under the
/// default policy and the second under enforced 2SV, so `mfa-org-admins` always fails on
/// the first.
fn assign_auth_policies(users: &mut [User], org_admins: &[usize]) {
    for (i, user) in users.iter_mut().enumerate() {
        user.auth_policy = match (user.claim_status, user.management_source) {
            (ClaimStatus::Unmanaged, _) => AuthPolicy::Default,
            (ClaimStatus::Managed, Some(ManagementSource::Synced)) if i % 3 != 0 => AuthPolicy::Sso,
            (ClaimStatus::Managed, _) if i % 2 == 0 => AuthPolicy::TwoStep,
            (ClaimStatus::Managed, _) => AuthPolicy::Default,
        };
    }
    for (k, &i) in org_admins.iter().take(2).enumerate() {
        users[i].auth_policy = if k == 0 {
            AuthPolicy::Default
        } else {
            AuthPolicy::TwoStep
        };
    }
    for user in users.iter_mut() {
        if user.auth_policy == AuthPolicy::Sso {
            user.mfa_enabled = false;
        }
    }
}

/// The second org admin is in no directory and the third in both (there are at least three).
fn place_org_admins(users: &mut [User], org_admins: &[usize]) {
    if let Some(&i) = org_admins.get(1) {
        users[i].listed_in.clear();
    }
    if let Some(&i) = org_admins.get(2) {
        users[i].listed_in = vec![EMPLOYEES, CONTRACTORS];
    }
}

/// Which products a user can use: active and suspended members only (deactivation and
/// pending deletion remove access; users never invited have none). Site admins use everything.
fn products_for(
    rng: &mut SplitMix64,
    status: UserStatus,
    directory: usize,
    site_admin: bool,
) -> Vec<Product> {
    if !matches!(status, UserStatus::Active | UserStatus::Suspended) {
        return Vec::new();
    }
    if site_admin {
        return Product::ALL.to_vec();
    }
    let (jira, jsm, confluence) = if directory == CONTRACTORS {
        (100, 0, 30)
    } else if rng.percent(95) {
        (85, 20, 70)
    } else {
        return Vec::new();
    };
    let mut products: Vec<Product> = [
        (Product::JiraSoftware, jira),
        (Product::JiraServiceManagement, jsm),
        (Product::Confluence, confluence),
    ]
    .into_iter()
    .filter(|&(_, percent)| rng.percent(percent))
    .map(|(product, _)| product)
    .collect();
    if products.is_empty() {
        products.push(Product::JiraSoftware);
    }
    products
}

/// Who belongs to a group.
#[derive(Clone, Copy)]
enum Members {
    /// The pitfall: every org admin but one, a deactivated employee and an ordinary employee.
    OrgAdminsPitfall,
    SiteAdmins,
    /// 90% of the employees who use the product; the others hold it directly.
    ProductUsers(Product),
    /// The employees of a department.
    Department(&'static str),
    /// Everyone in a directory.
    Directory(usize),
    /// A share (in percent) of a directory.
    SampleOf(usize, u64),
}

struct GroupSpec {
    name: &'static str,
    description: &'static str,
    directory: usize,
    synced: bool,
    members: Members,
}

fn group_specs() -> Vec<GroupSpec> {
    let spec = |name, description, directory, synced, members| GroupSpec {
        name,
        description,
        directory,
        synced,
        members,
    };
    let mut specs = vec![
        spec(
            "org-admins",
            "Organization administrators (legacy group; membership grants no admin access)",
            EMPLOYEES,
            false,
            Members::OrgAdminsPitfall,
        ),
        spec(
            "site-admins",
            "Product administrators on the site",
            EMPLOYEES,
            false,
            Members::SiteAdmins,
        ),
        spec(
            "jira-software-users",
            "Default Jira group",
            EMPLOYEES,
            false,
            Members::ProductUsers(Product::JiraSoftware),
        ),
        spec(
            "jira-servicedesk-users",
            "Default Jira Service Management group",
            EMPLOYEES,
            false,
            Members::ProductUsers(Product::JiraServiceManagement),
        ),
        spec(
            "confluence-users",
            "Default Confluence group",
            EMPLOYEES,
            false,
            Members::ProductUsers(Product::Confluence),
        ),
        spec(
            "all-employees",
            "Everyone in the Employees directory",
            EMPLOYEES,
            true,
            Members::Directory(EMPLOYEES),
        ),
    ];
    specs.extend(DEPARTMENTS.iter().map(|&(name, department, _)| {
        spec(
            name,
            "Department group synced from the identity provider",
            EMPLOYEES,
            true,
            Members::Department(department),
        )
    }));
    specs.push(spec(
        "contractors",
        "Everyone in the Contractors directory",
        CONTRACTORS,
        true,
        Members::Directory(CONTRACTORS),
    ));
    specs.push(spec(
        "external-partners",
        "Contractors from partner firms",
        CONTRACTORS,
        false,
        Members::SampleOf(CONTRACTORS, 40),
    ));
    specs
}

/// Creates the groups and records each user's memberships (in group order).
fn groups(rng: &mut SplitMix64, users: &mut [User]) -> Vec<Group> {
    group_specs()
        .into_iter()
        .enumerate()
        .map(|(index, spec)| {
            let members = members(rng, users, spec.members);
            for &u in &members {
                users[u].groups.push(index);
            }
            let grants = match spec.members {
                Members::ProductUsers(product) => {
                    vec![(Resource::Product(product, workspace_of(product)), USER_ROLE)]
                }
                Members::SiteAdmins => Product::ALL
                    .iter()
                    .map(|&p| (Resource::Product(p, workspace_of(p)), ADMIN_ROLE))
                    .collect(),
                _ => Vec::new(),
            };
            Group {
                id: rng.uuid(),
                name: spec.name,
                description: spec.description,
                directory: spec.directory,
                external_synced: spec.synced,
                grants,
                member_count: members.len(),
            }
        })
        .collect()
}

fn members(rng: &mut SplitMix64, users: &[User], rule: Members) -> Vec<usize> {
    let employee = |u: &User| u.directory == EMPLOYEES;
    let mut members: Vec<usize> = match rule {
        Members::OrgAdminsPitfall => {
            let admins: Vec<usize> = (0..users.len()).filter(|&i| users[i].org_admin).collect();
            let mut members = admins[..admins.len().saturating_sub(1)].to_vec();
            members.extend(
                users
                    .iter()
                    .position(|u| employee(u) && u.status == UserStatus::Deactivated),
            );
            members.extend(users.iter().position(|u| {
                employee(u) && u.status == UserStatus::Active && !u.org_admin && !u.site_admin
            }));
            members
        }
        Members::SiteAdmins => (0..users.len()).filter(|&i| users[i].site_admin).collect(),
        Members::ProductUsers(product) => (0..users.len())
            .filter(|&i| {
                employee(&users[i])
                    && users[i].product_access.iter().any(|p| p.product == product)
                    && rng.percent(90)
            })
            .collect(),
        Members::Department(department) => (0..users.len())
            .filter(|&i| employee(&users[i]) && users[i].department == department)
            .collect(),
        Members::Directory(directory) => (0..users.len())
            .filter(|&i| users[i].directory == directory)
            .collect(),
        Members::SampleOf(directory, percent) => (0..users.len())
            .filter(|&i| users[i].directory == directory && rng.percent(percent))
            .collect(),
    };
    members.sort_unstable();
    members
}

fn domains(rng: &mut SplitMix64) -> Vec<Domain> {
    [
        ("example.com", "dns", DomainStatus::Verified),
        ("example.org", "http", DomainStatus::Verified),
        ("example.net", "dns", DomainStatus::Unverified),
        ("old.example.com", "http", DomainStatus::Superseded),
        ("lab.example.org", "dns", DomainStatus::MissingToken),
    ]
    .into_iter()
    .map(|(name, claim_type, status)| Domain {
        id: rng.uuid(),
        name,
        claim_type,
        status,
    })
    .collect()
}

/// Six policies, one of each kind a compliance check looks at. The IP allowlist is enabled
/// for about half of all seeds, so both outcomes of that check can be exercised.
fn policies(rng: &mut SplitMix64) -> Vec<Policy> {
    use serde_json::json;
    let ip_allowlist_enabled = rng.percent(50);
    [
        (
            "ip-allowlist",
            "Office network allowlist",
            ip_allowlist_enabled,
            json!({"ipRanges": ["192.0.2.0/24", "198.51.100.0/24"]}),
            true,
        ),
        (
            "ip-allowlist",
            "Branch office allowlist (applied to no product)",
            true,
            json!({"ipRanges": ["203.0.113.0/24"]}),
            false,
        ),
        (
            "data-residency",
            "Data residency: EU",
            true,
            json!({"realm": "eu"}),
            true,
        ),
        (
            "data-security",
            "Block public links and exports",
            true,
            json!({"blockPublicLinks": true, "blockExport": true}),
            true,
        ),
        (
            "admin-notification-settings",
            "Admin notifications",
            true,
            json!({"notifyOn": ["user_added", "policy_updated"]}),
            false,
        ),
        (
            "generative-ai",
            "Atlassian Intelligence",
            false,
            json!({}),
            true,
        ),
        (
            "user-join-settings-default",
            "Default join settings",
            true,
            json!({"allowDomainJoin": false}),
            false,
        ),
    ]
    .into_iter()
    .map(
        |(policy_type, name, enabled, rule, applies_to_workspaces)| {
            let created_ms = days_ago(rng, 300, 900);
            Policy {
                id: rng.uuid(),
                policy_type,
                name,
                enabled,
                rule,
                applies_to_workspaces,
                created_ms,
                updated_ms: rng.between(created_ms, NOW_MS - DAY_MS),
            }
        },
    )
    .collect()
}

/// About 2 tokens per 15 users, owned by active managed users: a quarter never expire, a fifth
/// were last used over 200 days ago and a tenth were never used. Expiring tokens last a year
/// from creation and were created at most 280 days ago, so none expires before 2027-02-17.
fn api_tokens(seed: u64, users: &[User]) -> Vec<ApiToken> {
    let owners: Vec<usize> = (0..users.len())
        .filter(|&i| {
            users[i].status == UserStatus::Active && users[i].claim_status == ClaimStatus::Managed
        })
        .collect();
    if owners.is_empty() {
        return Vec::new();
    }
    let n = users.len() * 2 / 15;
    let mut rng = SplitMix64::new(mix(seed, stream::TOKENS));
    let expiring = spread(&mut rng, n, &[(true, 75), (false, 25)]);
    let usage = spread(
        &mut rng,
        n,
        &[
            (Activity::Recent, 70),
            (Activity::Stale, 20),
            (Activity::Never, 10),
        ],
    );
    (0..n)
        .map(|k| {
            let created_ms = match usage[k] {
                Activity::Recent => days_ago(&mut rng, 20, 280),
                Activity::Stale => days_ago(&mut rng, 260, 280),
                Activity::Never => days_ago(&mut rng, 200, 280),
            };
            let last_active_ms = match usage[k] {
                Activity::Recent => Some(days_ago(&mut rng, 1, 14)),
                Activity::Stale => Some(created_ms + rng.between(0, 20 * DAY_MS)),
                Activity::Never => None,
            };
            let label = *rng.pick(&TOKEN_LABELS);
            ApiToken {
                id: rng.uuid(),
                label,
                owner: *rng.pick(&owners),
                created_ms,
                expires_ms: expiring[k].then_some(created_ms + 365 * DAY_MS),
                last_active_ms,
            }
        })
        .collect()
}
