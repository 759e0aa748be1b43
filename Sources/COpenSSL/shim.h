#ifndef PROXYD_COPENSSL_SHIM_H
#define PROXYD_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#endif
