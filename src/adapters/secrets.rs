//! Callback secrets: generated for a caller, shown once, kept encrypted
//! (XChaCha20-Poly1305 under `webhook.secret_key`) because HMAC signing needs
//! the secret itself, not a hash of it.

use anyhow::{bail, Context as _};
use base64::Engine as _;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::adapters::config::Config;

#[derive(Clone)]
pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(***)")
    }
}

/// A sealed secret: what the database keeps.
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
    /// SHA-256 of the secret, hex; identifies it without revealing it.
    pub fingerprint: String,
}

impl Vault {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let raw = config.webhook.secret_key.expose().trim();
        let key: Vec<u8> = if raw.is_empty() {
            if !config.keycloak.dev_mode() {
                bail!("webhook.secret_key is not set");
            }
            tracing::warn!("webhook.secret_key is empty: callback secrets are sealed with the development key");
            Sha256::digest(b"awe development key: never for production").to_vec()
        } else {
            base64::engine::general_purpose::STANDARD.decode(raw).context("webhook.secret_key is not base64")?
        };
        let cipher = XChaCha20Poly1305::new_from_slice(&key)
            .map_err(|_| anyhow::anyhow!("webhook.secret_key must be 32 bytes"))?;
        Ok(Self { cipher })
    }

    /// A new random secret, as callers will type it: 64 hex characters.
    pub fn generate() -> String {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        hex::encode(bytes)
    }

    pub fn seal(&self, secret: &str) -> anyhow::Result<Sealed> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext =
            self.cipher.encrypt(&nonce, secret.as_bytes()).map_err(|_| anyhow::anyhow!("sealing failed"))?;
        Ok(Sealed { ciphertext, nonce: nonce.to_vec(), fingerprint: hex::encode(Sha256::digest(secret.as_bytes())) })
    }

    pub fn open(&self, ciphertext: &[u8], nonce: &[u8]) -> anyhow::Result<Vec<u8>> {
        if nonce.len() != 24 {
            bail!("a sealed secret has a nonce of {} bytes", nonce.len());
        }
        self.cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| anyhow::anyhow!("a callback secret does not open with this webhook.secret_key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key() {
        let vault = Vault::from_config(&Config::default()).expect("dev vault");
        let secret = Vault::generate();
        assert_eq!(secret.len(), 64);
        let sealed = vault.seal(&secret).expect("sealed");
        assert!(!sealed.ciphertext.windows(8).any(|w| secret.as_bytes().windows(8).any(|s| s == w)));
        assert_eq!(vault.open(&sealed.ciphertext, &sealed.nonce).expect("opens"), secret.as_bytes());
        let mut other = Config::default();
        other.webhook.secret_key =
            crate::adapters::config::Secret::new(base64::engine::general_purpose::STANDARD.encode([7u8; 32]));
        let wrong = Vault::from_config(&other).expect("vault");
        assert!(wrong.open(&sealed.ciphertext, &sealed.nonce).is_err());
    }
}
