//! What a connector declares: its manifest, cards, permissions and auth.
//!
//! These are plain Rust values (no bindings), so connectors can build and
//! unit-test their manifests natively. The export macro converts them to the
//! WIT types when the host asks.

use serde_json::Value;

/// Kind of access a permission rule grants: reads are GET/HEAD, writes are
/// POST/PUT/PATCH/DELETE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// GET and HEAD.
    Read,
    /// POST, PUT, PATCH and DELETE.
    Write,
}

/// One method + path rule of a permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Methods allowed.
    pub access: Vec<Access>,
    /// Segment-wise path pattern: `*` or `{name}` match one segment, a trailing
    /// `**` any number.
    pub path: String,
}

/// A named upstream right that cards need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// Stable id (`crews-write`).
    pub id: String,
    /// Catalog title.
    pub title: String,
    /// Catalog description.
    pub description: String,
    /// Method + path rules.
    pub rules: Vec<Rule>,
    /// Whether new connections get it unless told otherwise.
    pub granted_by_default: bool,
}

impl Permission {
    /// A permission granted by default, with no rules yet.
    pub fn new(id: &str, title: &str) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            description: String::new(),
            rules: Vec::new(),
            granted_by_default: true,
        }
    }

    /// Sets the catalog description.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.into();
        self
    }

    /// Allows reads (GET/HEAD) on `path`.
    pub fn read(mut self, path: &str) -> Self {
        self.rules.push(Rule {
            access: vec![Access::Read],
            path: path.into(),
        });
        self
    }

    /// Allows writes (POST/PUT/PATCH/DELETE) on `path`.
    pub fn write(mut self, path: &str) -> Self {
        self.rules.push(Rule {
            access: vec![Access::Write],
            path: path.into(),
        });
        self
    }

    /// Allows reads and writes on `path`.
    pub fn read_write(mut self, path: &str) -> Self {
        self.rules.push(Rule {
            access: vec![Access::Read, Access::Write],
            path: path.into(),
        });
        self
    }

    /// New connections do not get this permission unless it is granted.
    pub fn not_granted_by_default(mut self) -> Self {
        self.granted_by_default = false;
        self
    }
}

/// A secret the user supplies for a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretField {
    /// Storage name (`access_token`).
    pub name: String,
    /// Label.
    pub title: String,
    /// Help text.
    pub description: String,
    /// Whether it may be left out.
    pub optional: bool,
}

impl SecretField {
    /// A required secret.
    pub fn new(name: &str, title: &str) -> Self {
        Self {
            name: name.into(),
            title: title.into(),
            description: String::new(),
            optional: false,
        }
    }

    /// Sets the help text.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.into();
        self
    }

    /// Makes the secret optional.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
}

/// Where an API key travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeyLocation {
    /// In a header of this name.
    Header(String),
    /// In a query parameter of this name (redacted wherever URLs are shown).
    Query(String),
}

/// How the OAuth2 client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Id and secret in the form body.
    ClientSecretPost,
    /// HTTP Basic.
    ClientSecretBasic,
}

/// OAuth2 endpoints and client settings. Templates take `{field}` and
/// `{secret.name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2 {
    /// Token endpoint template.
    pub token_url: String,
    /// Scope templates.
    pub scopes: Vec<String>,
    /// Client authentication at the token endpoint.
    pub client_auth: ClientAuth,
    /// Secret holding the client id.
    pub client_id_secret: String,
    /// Secret holding the client secret.
    pub client_secret_secret: String,
    /// RFC 7009 revocation endpoint template.
    pub revocation_url: Option<String>,
}

impl OAuth2 {
    /// Settings with the client id and secret in secrets `client_id` and
    /// `client_secret`, sent in the form body.
    pub fn new(token_url: &str) -> Self {
        Self {
            token_url: token_url.into(),
            scopes: Vec::new(),
            client_auth: ClientAuth::ClientSecretPost,
            client_id_secret: "client_id".into(),
            client_secret_secret: "client_secret".into(),
            revocation_url: None,
        }
    }

    /// Adds a scope template.
    pub fn scope(mut self, scope: &str) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Sets the client authentication.
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = auth;
        self
    }

    /// Sets the revocation endpoint template.
    pub fn revocation_url(mut self, url: &str) -> Self {
        self.revocation_url = Some(url.into());
        self
    }
}

/// The credential template `{secret.name}`: the value of secret `name`.
///
/// Credential templates are text the host renders when it sends a
/// request: `{secret.name}` is a secret, `{name}` a connection field or
/// environment variable, and everything else is literal.
pub fn secret(name: &str) -> String {
    format!("{{secret.{name}}}")
}

/// How the host authenticates requests. Each credential is a template
/// (see [`secret`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthScheme {
    /// Nothing is added.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token, e.g. `{secret.access_token}`.
        token: String,
    },
    /// `Authorization: Basic`.
    Basic {
        /// The user name, e.g. `{secret.username}` or `{secret.api_key}`.
        username: String,
        /// The password, e.g. `{secret.password}`, or a fixed `x`.
        password: String,
    },
    /// An API key.
    ApiKey {
        /// The key, e.g. `{secret.api_key}`.
        value: String,
        /// Where it goes.
        location: ApiKeyLocation,
    },
    /// OAuth2 client credentials.
    OAuth2ClientCredentials(OAuth2),
    /// OAuth2 authorization code with PKCE.
    OAuth2AuthorizationCode {
        /// Token endpoint and client settings.
        oauth2: OAuth2,
        /// Authorization endpoint template.
        authorize_url: String,
        /// Extra authorize query parameters (templates).
        authorize_params: Vec<(String, String)>,
    },
}

/// One way a connection can authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthMethod {
    /// Stable id.
    pub id: String,
    /// Title.
    pub title: String,
    /// What the host does.
    pub scheme: AuthScheme,
    /// Secrets the user enters.
    pub secrets: Vec<SecretField>,
    /// Headers added to every credentialed request: name and template.
    pub headers: Vec<(String, String)>,
    /// Statuses besides 401 meaning the token went bad.
    pub auth_failure_statuses: Vec<u16>,
}

impl AuthMethod {
    /// An auth method with no secrets yet.
    pub fn new(id: &str, title: &str, scheme: AuthScheme) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            scheme,
            secrets: Vec::new(),
            headers: Vec::new(),
            auth_failure_statuses: Vec::new(),
        }
    }

    /// A bearer-token method reading secret `secret`, which the user enters.
    pub fn bearer(id: &str, title: &str, secret: SecretField) -> Self {
        let scheme = AuthScheme::Bearer {
            token: self::secret(&secret.name),
        };
        Self::new(id, title, scheme).secret(secret)
    }

    /// Asks the user for a secret.
    pub fn secret(mut self, secret: SecretField) -> Self {
        self.secrets.push(secret);
        self
    }

    /// Adds header `header` with the value of secret `secret` to every
    /// credentialed request.
    pub fn secret_header(self, header: &str, secret: &str) -> Self {
        self.header(header, &self::secret(secret))
    }

    /// Adds header `name` with the rendered `template` (see [`secret`]) to
    /// every credentialed request.
    pub fn header(mut self, name: &str, template: &str) -> Self {
        self.headers.push((name.into(), template.into()));
        self
    }

    /// Treats `status` like a 401: refresh once and retry.
    pub fn auth_failure_status(mut self, status: u16) -> Self {
        self.auth_failure_statuses.push(status);
        self
    }
}

/// Where a connection's requests go, chosen by connection fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Id (`sandbox`).
    pub id: String,
    /// `(field, value)` conditions, all of which must hold.
    pub when: Vec<(String, String)>,
    /// Extra template variables.
    pub vars: Vec<(String, String)>,
    /// Base URL template.
    pub base_url: String,
    /// Allowed origin templates beside the base URL's.
    pub allowed_hosts: Vec<String>,
    /// Origin templates whose requests carry credentials besides the base
    /// URL's origin.
    pub credentialed_hosts: Vec<String>,
    /// Origin templates the OAuth2 token, authorize and revocation URLs
    /// may be on (required with OAuth2).
    pub auth_hosts: Vec<String>,
}

impl Environment {
    /// An environment that always applies.
    pub fn new(id: &str, base_url: &str) -> Self {
        Self {
            id: id.into(),
            when: Vec::new(),
            vars: Vec::new(),
            base_url: base_url.into(),
            allowed_hosts: Vec::new(),
            credentialed_hosts: Vec::new(),
            auth_hosts: Vec::new(),
        }
    }

    /// Applies only when connection field `field` equals `value`.
    pub fn when(mut self, field: &str, value: &str) -> Self {
        self.when.push((field.into(), value.into()));
        self
    }

    /// Defines template variable `name`.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.into(), value.into()));
        self
    }

    /// Allows another origin template.
    pub fn allow_host(mut self, origin: &str) -> Self {
        self.allowed_hosts.push(origin.into());
        self
    }

    /// Allows another origin template whose requests carry the
    /// connection's credentials, as the base URL's do.
    pub fn credentialed_host(mut self, origin: &str) -> Self {
        self.credentialed_hosts.push(origin.into());
        self
    }

    /// Lets OAuth2 endpoints be on this origin template, e.g.
    /// `https://login.example.com`, or `{token_url}` for the origin of
    /// whatever URL the user enters in that field.
    pub fn auth_host(mut self, origin: &str) -> Self {
        self.auth_hosts.push(origin.into());
        self
    }
}

/// A card as the manifest lists it. A typed [`Card`](crate::Card) makes its
/// own ([`Card::entry`](crate::Card::entry)); build one by hand only for a
/// card that [`Connector::invoke`](crate::Connector::invoke) runs untyped.
#[derive(Debug, Clone, PartialEq)]
pub struct CardEntry {
    /// Stable kebab-case id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Input JSON Schema.
    pub input_schema: Value,
    /// Output JSON Schema.
    pub output_schema: Value,
    /// Permission ids the card uses.
    pub permissions: Vec<String>,
}

impl CardEntry {
    /// A card taking and returning any object, using no permission.
    pub fn new(id: &str, title: &str) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            description: String::new(),
            input_schema: serde_json::json!({"type": "object"}),
            output_schema: serde_json::json!({"type": "object"}),
            permissions: Vec::new(),
        }
    }

    /// Sets the description.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.into();
        self
    }

    /// Sets the input schema.
    pub fn input(mut self, schema: Value) -> Self {
        self.input_schema = schema;
        self
    }

    /// Sets the output schema.
    pub fn output(mut self, schema: Value) -> Self {
        self.output_schema = schema;
        self
    }

    /// Declares that the card uses permission `id`.
    pub fn permission(mut self, id: &str) -> Self {
        self.permissions.push(id.into());
        self
    }
}

/// Everything a connector declares.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Connector id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Semver version.
    pub version: String,
    /// Catalog paragraph.
    pub description: String,
    /// JSON Schema of the non-secret connection fields.
    pub connection_schema: Value,
    /// Auth methods, default first.
    pub auth_methods: Vec<AuthMethod>,
    /// Environments, first match wins.
    pub environments: Vec<Environment>,
    /// Permissions.
    pub permissions: Vec<Permission>,
    /// Cards.
    pub cards: Vec<CardEntry>,
    /// Headers every request gets unless it sets them (fixed text).
    pub default_headers: Vec<(String, String)>,
}

impl Manifest {
    /// A manifest with no fields, auth, permissions or cards yet. Use
    /// [`manifest!`](crate::manifest!), which takes the version from the
    /// connector crate's `Cargo.toml`.
    pub fn new(id: &str, name: &str, version: &str) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            version: version.into(),
            description: String::new(),
            connection_schema: serde_json::json!({"type": "object", "properties": {}}),
            auth_methods: Vec::new(),
            environments: Vec::new(),
            permissions: Vec::new(),
            cards: Vec::new(),
            default_headers: Vec::new(),
        }
    }

    /// Sets the description.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.into();
        self
    }

    /// Sets the connection-field schema.
    pub fn connection_schema(mut self, schema: Value) -> Self {
        self.connection_schema = schema;
        self
    }

    /// Adds an auth method.
    pub fn auth(mut self, method: AuthMethod) -> Self {
        self.auth_methods.push(method);
        self
    }

    /// Sends header `name: value` with every upstream request that does not
    /// set it, e.g. `("Accept", "application/json")`.
    pub fn default_header(mut self, name: &str, value: &str) -> Self {
        self.default_headers.push((name.into(), value.into()));
        self
    }

    /// Adds an environment.
    pub fn environment(mut self, environment: Environment) -> Self {
        self.environments.push(environment);
        self
    }

    /// Adds a permission.
    pub fn permission(mut self, permission: Permission) -> Self {
        self.permissions.push(permission);
        self
    }

    /// Adds permissions.
    pub fn permissions(mut self, permissions: impl IntoIterator<Item = Permission>) -> Self {
        self.permissions.extend(permissions);
        self
    }

    /// Adds a card entry built by hand (see [`CardEntry`]).
    pub fn card(mut self, card: CardEntry) -> Self {
        self.cards.push(card);
        self
    }

    /// Adds the entries of typed cards, schemas derived from their types:
    /// `.cards(Self::CARDS)`.
    pub fn cards(mut self, cards: crate::Cards) -> Self {
        self.cards.extend(cards.iter().map(crate::CardDef::entry));
        self
    }
}
