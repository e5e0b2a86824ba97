//! Links to kept media files, served by ingest's public `GET /media/{tenant}/{key}`.
//!
//! A file an agent sends is linked by its key alone: `out-` and 128 random bits, a capability
//! the provider fetches once. A file a customer sent is private (it is their photo, their
//! invoice), so it is linked only with a signature: `?expires=<unix seconds>&sig=<hex>`, an
//! HMAC-SHA256 over the tenant, the key and the expiry under the deployment's link key
//! (`media.link_key`), like a presigned URL. That is how an agent at an external desk
//! (Rocket.Chat, which cannot take atiende's files) opens what the customer sent; the link
//! stops working when it expires, and a link for one tenant's file opens nothing else.

use std::sync::Arc;

use atiende_domain::{TenantId, is_outgoing_media_key};
use atiende_ports::{Clock, MediaLinker};
use chrono::Duration;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;

/// The query of a signed link.
#[derive(Debug, Default, Deserialize)]
pub struct LinkSignature {
    /// When the link stops working, in Unix seconds.
    pub expires: Option<i64>,
    /// The signature, in hex.
    pub sig: Option<String>,
}

/// Makes and checks the links to a deployment's kept media.
pub struct MediaLinks {
    base: String,
    signing: Option<(SecretString, Duration)>,
    clock: Arc<dyn Clock>,
}

impl MediaLinks {
    /// Links under `public_url`; only agents' files, until [`MediaLinks::signed`] gives a key.
    pub fn new(public_url: &str, clock: Arc<dyn Clock>) -> Self {
        Self {
            base: public_url.trim_end_matches('/').to_owned(),
            signing: None,
            clock,
        }
    }

    /// Signs links to customers' files with `key`, valid for `lifetime`.
    #[must_use]
    pub fn signed(mut self, key: SecretString, lifetime: Duration) -> Self {
        self.signing = Some((key, lifetime));
        self
    }

    /// Whether customers' files get links (a signing key was given).
    pub fn signs_customer_files(&self) -> bool {
        self.signing.is_some()
    }

    /// Whether a request for `tenant`'s file under `key` with `signature` may open it: an
    /// agent's file always, a customer's with a valid signature that has not expired.
    pub fn allows(&self, tenant: &TenantId, key: &str, signature: &LinkSignature) -> bool {
        if is_outgoing_media_key(key) {
            return true;
        }
        let (Some((secret, _)), Some(expires), Some(sig)) =
            (&self.signing, signature.expires, signature.sig.as_deref())
        else {
            return false;
        };
        let Ok(sig) = hex::decode(sig) else {
            return false;
        };
        expires > self.clock.now().timestamp()
            && mac(secret, tenant, key, expires).verify_slice(&sig).is_ok()
    }
}

impl MediaLinker for MediaLinks {
    fn link(&self, tenant: &TenantId, key: &str) -> Option<String> {
        let url = format!("{}/media/{tenant}/{key}", self.base);
        if is_outgoing_media_key(key) {
            return Some(url);
        }
        let (secret, lifetime) = self.signing.as_ref()?;
        let expires = (self.clock.now() + *lifetime).timestamp();
        let sig = hex::encode(mac(secret, tenant, key, expires).finalize().into_bytes());
        Some(format!("{url}?expires={expires}&sig={sig}"))
    }
}

fn mac(secret: &SecretString, tenant: &TenantId, key: &str, expires: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(b"atiende media link\n");
    mac.update(tenant.as_str().as_bytes());
    mac.update(b"\n");
    mac.update(key.as_bytes());
    mac.update(b"\n");
    mac.update(expires.to_string().as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use atiende_domain::{
        Channel, ConversationId, ProviderMessageId, media_key, outgoing_media_key,
    };
    use chrono::{DateTime, Utc};
    use std::sync::Mutex;

    struct TestClock(Mutex<DateTime<Utc>>);

    impl Clock for TestClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    fn customer_file(index: usize) -> String {
        let demo = TenantId::parse("demo").unwrap();
        let conversation = ConversationId::new(&demo, Channel::TwilioWhatsApp, "+18095550100");
        media_key(
            &conversation,
            &ProviderMessageId::parse("SM1").unwrap(),
            index,
        )
    }

    fn query(link: &str) -> LinkSignature {
        let mut signature = LinkSignature::default();
        let query = link.split_once('?').map(|(_, q)| q).unwrap_or_default();
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("expires", v)) => signature.expires = v.parse().ok(),
                Some(("sig", v)) => signature.sig = Some(v.to_owned()),
                _ => {}
            }
        }
        signature
    }

    #[test]
    fn a_customers_file_opens_with_its_signature_until_it_expires() {
        let clock = Arc::new(TestClock(Mutex::new(Utc::now())));
        let links = MediaLinks::new("https://bot.example.com/", clock.clone())
            .signed(SecretString::from("k".repeat(32)), Duration::days(7));
        let demo = TenantId::parse("demo").unwrap();
        let key = customer_file(0);
        let link = links.link(&demo, &key).unwrap();
        assert!(link.starts_with(&format!(
            "https://bot.example.com/media/demo/{key}?expires="
        )));
        assert!(links.allows(&demo, &key, &query(&link)));

        // Another tenant's file, another key, a stretched expiry or no signature: closed.
        let other = TenantId::parse("musica").unwrap();
        assert!(!links.allows(&other, &key, &query(&link)));
        assert!(!links.allows(&demo, &customer_file(1), &query(&link)));
        let mut stretched = query(&link);
        stretched.expires = stretched.expires.map(|e| e + 86_400);
        assert!(!links.allows(&demo, &key, &stretched));
        assert!(!links.allows(&demo, &key, &LinkSignature::default()));
        let garbled = LinkSignature {
            sig: Some("zz".into()),
            ..query(&link)
        };
        assert!(!links.allows(&demo, &key, &garbled));

        *clock.0.lock().unwrap() += Duration::days(7);
        assert!(!links.allows(&demo, &key, &query(&link)), "expired");
    }

    #[test]
    fn without_a_key_only_agents_files_have_links() {
        let links = MediaLinks::new(
            "https://bot.example.com",
            Arc::new(TestClock(Mutex::new(Utc::now()))),
        );
        let demo = TenantId::parse("demo").unwrap();
        let out = outgoing_media_key("0123456789abcdef0123456789abcdef");
        assert_eq!(
            links.link(&demo, &out).as_deref(),
            Some(format!("https://bot.example.com/media/demo/{out}").as_str())
        );
        assert!(links.allows(&demo, &out, &LinkSignature::default()));
        let key = customer_file(0);
        assert!(!links.signs_customer_files());
        assert_eq!(links.link(&demo, &key), None);
        assert!(!links.allows(&demo, &key, &LinkSignature::default()));
    }
}
