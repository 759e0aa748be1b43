#ifndef PROXYD_COPENSSL_SHIM_H
#define PROXYD_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <string.h>

/* The version of the headers proxyd was built with (OpenSSL_version() gives the library's
   at run time): OPENSSL_VERSION_TEXT is a macro Swift cannot import. */
static inline const char *proxyd_openssl_built_version(void) { return OPENSSL_VERSION_TEXT; }

/* Many of OpenSSL's setters are macros over SSL_CTX_ctrl/SSL_ctrl, which Swift cannot
   import. These inline functions give them a callable name (prefix proxyd_). */

static inline long proxyd_SSL_CTX_set_options(SSL_CTX *ctx, uint64_t options) {
    return (long)SSL_CTX_set_options(ctx, options);
}
/* SSL_OP_* are 64-bit shift macros Swift does not import. */
static inline uint64_t proxyd_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t proxyd_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t proxyd_SSL_OP_CIPHER_SERVER_PREFERENCE(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }
static inline uint64_t proxyd_SSL_OP_NO_TICKET(void) { return SSL_OP_NO_TICKET; }
static inline uint64_t proxyd_SSL_OP_PRIORITIZE_CHACHA(void) { return SSL_OP_PRIORITIZE_CHACHA; }
static inline long proxyd_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
static inline int proxyd_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline int proxyd_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}
static inline int proxyd_SSL_CTX_set_dh_auto(SSL_CTX *ctx, int onoff) {
    return (int)SSL_CTX_set_dh_auto(ctx, onoff);
}
static inline int proxyd_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}
/* A connection moved to another certificate's context (crt-list options) takes these
   from that context: SSL_set_SSL_CTX switches the certificate only. */
static inline void proxyd_SSL_adopt_versions(SSL *ssl, SSL_CTX *ctx) {
    SSL_set_min_proto_version(ssl, SSL_CTX_get_min_proto_version(ctx));
    SSL_set_max_proto_version(ssl, SSL_CTX_get_max_proto_version(ctx));
}
static inline int proxyd_SSL_set1_groups_list(SSL *ssl, const char *list) {
    return (int)SSL_set1_groups_list(ssl, list);
}
static inline long proxyd_SSL_CTX_sess_set_cache_size(SSL_CTX *ctx, long size) {
    return SSL_CTX_sess_set_cache_size(ctx, size);
}
static inline long proxyd_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}
static inline int proxyd_SSL_CTX_set_app_data(SSL_CTX *ctx, void *arg) {
    return SSL_CTX_set_app_data(ctx, arg);
}
static inline void *proxyd_SSL_CTX_get_app_data(const SSL_CTX *ctx) {
    return SSL_CTX_get_app_data(ctx);
}
static inline int proxyd_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
static inline long proxyd_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *)) {
    return SSL_CTX_set_tlsext_servername_callback(ctx, cb);
}
static inline long proxyd_SSL_CTX_set_tlsext_servername_arg(SSL_CTX *ctx, void *arg) {
    return SSL_CTX_set_tlsext_servername_arg(ctx, arg);
}
static inline long proxyd_BIO_set_mem_eof_return(BIO *bio, int value) {
    return BIO_set_mem_eof_return(bio, value);
}
static inline int proxyd_SSL_CTX_add_extra_chain_cert(SSL_CTX *ctx, X509 *cert) {
    return (int)SSL_CTX_add_extra_chain_cert(ctx, cert);
}
static inline int proxyd_SSL_get_secure_renegotiation_support(SSL *ssl) {
    return (int)SSL_get_secure_renegotiation_support(ssl);
}

/* The DNS names of a certificate's subjectAltName, one at a time: returns how many there
   are; with index < count, copies the name at index into buf (NUL-terminated, cut to
   size) and returns its length. Stacks are typed macros Swift cannot import. */
static inline int proxyd_X509_dns_names(X509 *cert, int index, char *buf, int size) {
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (names == NULL) return 0;
    int found = 0, result = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
        if (name->type != GEN_DNS) continue;
        if (index < 0) { found++; continue; }
        if (found == index) {
            const unsigned char *data = ASN1_STRING_get0_data(name->d.dNSName);
            int length = ASN1_STRING_length(name->d.dNSName);
            if (length >= size) length = size - 1;
            memcpy(buf, data, (size_t)length);
            buf[length] = 0;
            result = length;
            found = -1;
            break;
        }
        found++;
    }
    GENERAL_NAMES_free(names);
    return index < 0 ? found : result;
}

/* The subject's common name into buf; returns its length or -1. */
static inline int proxyd_X509_common_name(X509 *cert, char *buf, int size) {
    return X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, size);
}

/* TLS session ticket keys from a file (HAProxy's `tls-ticket-keys`): each key is a 16-byte
   name, an AES key and an HMAC key (16+16 for 48-byte keys, 32+32 for 80-byte keys). All
   keys decrypt; `encrypt` is the one that encrypts new tickets. The structure lives as long
   as the process and is found through the SSL_CTX's app data. */
#define PROXYD_MAX_TICKET_KEYS 16
struct proxyd_ticket_keys {
    int count;
    int encrypt;
    int aes_length;   /* 16 or 32 */
    unsigned char name[PROXYD_MAX_TICKET_KEYS][16];
    unsigned char aes[PROXYD_MAX_TICKET_KEYS][32];
    unsigned char hmac[PROXYD_MAX_TICKET_KEYS][32];
};

static inline int proxyd_ticket_key_callback(SSL *ssl, unsigned char *key_name, unsigned char *iv,
                                             EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, int encrypt) {
    struct proxyd_ticket_keys *keys = (struct proxyd_ticket_keys *)SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (keys == NULL || keys->count == 0) return -1;
    const EVP_CIPHER *algorithm = keys->aes_length == 32 ? EVP_aes_256_cbc() : EVP_aes_128_cbc();
    int index = -1;
    if (encrypt) {
        index = keys->encrypt;
        memcpy(key_name, keys->name[index], 16);
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(algorithm)) <= 0) return -1;
        if (EVP_EncryptInit_ex(cipher, algorithm, NULL, keys->aes[index], iv) != 1) return -1;
    } else {
        for (int i = 0; i < keys->count; i++) {
            if (memcmp(key_name, keys->name[i], 16) == 0) { index = i; break; }
        }
        if (index < 0) return 0;  /* unknown key: a full handshake */
        if (EVP_DecryptInit_ex(cipher, algorithm, NULL, keys->aes[index], iv) != 1) return -1;
    }
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, keys->hmac[index], (size_t)keys->aes_length);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
    /* 2: valid, but issue a new ticket under the current key. */
    return (!encrypt && index != keys->encrypt) ? 2 : 1;
}

/* Stores key `index` (48 or 80 bytes as in the file); returns 0 when it does not fit. */
static inline int proxyd_ticket_keys_set(struct proxyd_ticket_keys *keys, int index,
                                         const unsigned char *key, int length) {
    int half = length == 48 ? 16 : length == 80 ? 32 : 0;
    if (half == 0 || index < 0 || index >= PROXYD_MAX_TICKET_KEYS) return 0;
    if (keys->count > 0 && keys->aes_length != half) return 0;
    keys->aes_length = half;
    memcpy(keys->name[index], key, 16);
    memcpy(keys->aes[index], key + 16, (size_t)half);
    memcpy(keys->hmac[index], key + 16 + half, (size_t)half);
    if (index >= keys->count) keys->count = index + 1;
    return 1;
}

static inline int proxyd_SSL_CTX_use_ticket_keys(SSL_CTX *ctx, struct proxyd_ticket_keys *keys) {
    SSL_CTX_set_app_data(ctx, keys);
    return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, proxyd_ticket_key_callback);
}

#endif
