#ifndef PROXYD_COPENSSL_SHIM_H
#define PROXYD_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <string.h>

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

#endif
