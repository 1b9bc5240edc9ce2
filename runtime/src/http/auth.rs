//! Credentials: API keys, bearer tokens, basic auth, and `OAuth2` access tokens refreshed (and
//! their refresh token rotated) as the provider asks.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Context, Request};
use crate::{Error, Secret};

/// How a client authenticates. Every secret given here is masked in every message of the run
/// (errors, LOG, TRACE, the request log), however a text quotes it.
///
/// ```
/// use tidemark::Secret;
/// use tidemark::http::{Auth, Client};
///
/// let key = Secret::new("sk-live-123".to_owned());
/// let client = Client::builder("http://localhost:8080")
///     .auth(Auth::ApiKeyHeader { name: "X-Api-Key".to_owned(), key })
///     .build()?;
/// # let _ = client;
/// # Ok::<(), tidemark::Error>(())
/// ```
#[derive(Debug)]
pub enum Auth {
    /// No credentials.
    None,
    /// The key in header `name`. Errors tell to check `api_key` (see
    /// [`ClientBuilder::credential_field`](super::ClientBuilder::credential_field)).
    ApiKeyHeader {
        /// The header, such as `X-Api-Key`.
        name: String,
        /// The key.
        key: Secret<String>,
    },
    /// The key as query parameter `name`. Errors tell to check `api_key`.
    ApiKeyQuery {
        /// The query parameter, such as `api_key`.
        name: String,
        /// The key.
        key: Secret<String>,
    },
    /// `Authorization: Bearer <token>`. Errors tell to check `token`.
    Bearer(Secret<String>),
    /// `Authorization: Basic ...`. Errors tell to check `password`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret<String>,
    },
    /// An `OAuth2` access token got with a refresh token. Errors tell to check
    /// `refresh_token`.
    OAuth2(OAuth2),
}

/// `OAuth2` with a refresh token: the access token is fetched when missing, within 60 s of its
/// `expires_in`, and once again when the API answers 401. One refresh at a time for every
/// clone of the client: concurrent readers wait for it and share its token.
///
/// With [`OAuth2::rotating`], a new refresh token the provider returns is written into the
/// run's config at the given JSON pointer and the whole config is saved with a CONTROL
/// `CONNECTOR_CONFIG` message before it is used, so the next sync starts with it.
///
/// ```
/// use tidemark::Secret;
/// use tidemark::http::{Auth, Client, OAuth2};
///
/// let oauth = OAuth2::refresh_token(
///     "http://localhost:8080/oauth/token",
///     "my-client",
///     Secret::new("client-secret".to_owned()),
///     Secret::new("refresh-token".to_owned()),
/// )
/// .rotating("/credentials/refresh_token")
/// .scopes(&["read"]);
/// let client = Client::builder("http://localhost:8080").auth(Auth::OAuth2(oauth)).build()?;
/// # let _ = client;
/// # Ok::<(), tidemark::Error>(())
/// ```
pub struct OAuth2 {
    token_url: String,
    client_id: String,
    client_secret: Secret<String>,
    rotating: Option<String>,
    scopes: Vec<String>,
    /// The refresh token and the access token, behind one lock: one refresh at a time.
    tokens: Mutex<Tokens>,
}

struct Tokens {
    refresh: Secret<String>,
    /// The access token, and when to refresh it (60 s before it expires).
    access: Option<(String, Option<Instant>)>,
}

impl Tokens {
    /// The access token, unless it is missing or due for a refresh.
    fn valid(&self) -> Option<String> {
        let (token, refresh_at) = self.access.as_ref()?;
        refresh_at
            .is_none_or(|at| Instant::now() < at)
            .then(|| token.clone())
    }
}

/// How long before its expiry an access token is refreshed.
const EARLY: Duration = Duration::from_mins(1);

impl fmt::Debug for OAuth2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("rotating", &self.rotating)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl OAuth2 {
    /// `grant_type=refresh_token` at `token_url` (an absolute URL), with the client id and
    /// secret in the form body.
    #[must_use]
    pub fn refresh_token(
        token_url: &str,
        client_id: &str,
        client_secret: Secret<String>,
        refresh_token: Secret<String>,
    ) -> Self {
        OAuth2 {
            token_url: token_url.to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            rotating: None,
            scopes: Vec::new(),
            tokens: Mutex::new(Tokens {
                refresh: refresh_token,
                access: None,
            }),
        }
    }

    /// The provider rotates refresh tokens: a new one is set at `config_pointer` (a JSON
    /// pointer such as `/credentials/refresh_token`) of the config the run was given, and the
    /// whole config is emitted in a CONTROL `CONNECTOR_CONFIG` message.
    #[must_use]
    pub fn rotating(mut self, config_pointer: &str) -> Self {
        self.rotating = Some(config_pointer.to_owned());
        self
    }

    /// The scopes asked for (the `scope` form field, space-separated).
    #[must_use]
    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        self.scopes = scopes.iter().map(|&scope| scope.to_owned()).collect();
        self
    }

    /// The secrets known at the start, to mask.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        vec![
            self.client_secret.expose().clone(),
            tokens.refresh.expose().clone(),
        ]
    }

    /// A valid access token: the cached one, or a new one from the provider (`send` sends the
    /// token request without credentials, retried as any request).
    pub(crate) fn access_token(
        &self,
        ctx: &mut dyn Context,
        send: &dyn Fn(&Request, &mut dyn Context) -> Result<super::Response, Error>,
    ) -> Result<String, Error> {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(token) = tokens.valid() {
            return Ok(token);
        }
        let mut form = vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("client_id".to_owned(), self.client_id.clone()),
            (
                "client_secret".to_owned(),
                self.client_secret.expose().clone(),
            ),
            ("refresh_token".to_owned(), tokens.refresh.expose().clone()),
        ];
        if !self.scopes.is_empty() {
            form.push(("scope".to_owned(), self.scopes.join(" ")));
        }
        let request = Request::post(self.token_url.as_str()).form(form);
        let response = send(&request, ctx)?;
        let answer: TokenAnswer = response.json()?;
        crate::secret::remember(&answer.access_token);
        let refresh_at = answer
            .expires_in
            .map(|seconds| Instant::now() + Duration::from_secs(seconds).saturating_sub(EARLY));
        if let Some(new) = answer.refresh_token
            && new != *tokens.refresh.expose()
        {
            crate::secret::remember(&new);
            if let Some(pointer) = &self.rotating {
                save_rotated(ctx, pointer, &new)?;
            }
            tokens.refresh = Secret::new(new);
        }
        tokens.access = Some((answer.access_token.clone(), refresh_at));
        Ok(answer.access_token)
    }

    /// The cached access token, when it is still valid; the lock is held only to read it.
    #[cfg(feature = "async")]
    pub(crate) fn cached(&self) -> Option<String> {
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .valid()
    }

    /// The API refused `token` (401): the next request refreshes it, unless another clone did
    /// already.
    pub(crate) fn refused(&self, token: &str) {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if tokens
            .access
            .as_ref()
            .is_some_and(|(current, _)| current == token)
        {
            tokens.access = None;
        }
    }
}

/// The provider's answer to a token request.
#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
}

/// Sets `token` at `pointer` of the run's config and saves the whole config.
fn save_rotated(ctx: &mut dyn Context, pointer: &str, token: &str) -> Result<(), Error> {
    let Some(mut config) = ctx.run_config() else {
        return Err(Error::system(
            "the OAuth2 provider rotated the refresh token, but the run has no config to save \
             it in: the new token would be lost",
        ));
    };
    let Some(slot) = config.pointer_mut(pointer) else {
        return Err(Error::system(format!(
            "the OAuth2 provider rotated the refresh token, but the config has nothing at \
             `{pointer}` to save it in"
        )));
    };
    *slot = Value::String(token.to_owned());
    ctx.update_config(&config)
}
