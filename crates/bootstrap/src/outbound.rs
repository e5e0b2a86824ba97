//! The HTTP client for URLs a tenant supplied: its Chatwoot or Rocket.Chat, its alert webhook,
//! its CRM.
//!
//! Names are resolved by [`PublicOnly`], which drops every address that is not public
//! ([`atiende_domain::address::is_public`]) at the moment of the call, so a name that resolves
//! to `169.254.169.254` or `10.x` — or is re-pointed there after onboarding (DNS rebinding) — is
//! never connected to. Literal addresses are refused when the tenant is saved. Redirects are not
//! followed: a public URL answering `302 Location: http://169.254.169.254/` would otherwise lead
//! the request inside, and a desk's or CRM's API has no reason to redirect a POST.

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A resolver that returns only public addresses.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| atiende_domain::address::is_public(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// The client for tenants' URLs, from `builder` (timeouts, user agent).
pub(crate) fn tenant_client(
    builder: reqwest::ClientBuilder,
    allow_private: bool,
) -> reqwest::Result<reqwest::Client> {
    let builder = builder.redirect(reqwest::redirect::Policy::none());
    if allow_private {
        builder.build()
    } else {
        builder
            .dns_resolver(std::sync::Arc::new(PublicOnly))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_of_private_addresses_are_not_connected_to_and_redirects_are_not_followed() {
        let client = tenant_client(reqwest::Client::builder(), false).unwrap();
        // `localhost` resolves to loopback only.
        let error = client.get("http://localhost:9/").send().await.unwrap_err();
        assert!(
            format!("{error:?}").contains("no public address"),
            "{error:?}"
        );

        // A server that redirects: the redirect is returned, not followed.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n",
            );
        });
        let open = tenant_client(reqwest::Client::builder(), true).unwrap();
        let response = open
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
    }
}
