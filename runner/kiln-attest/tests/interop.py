#!/usr/bin/env python3
"""Independent verification of what kiln-attest writes, with implementations that are not kiln.

usage: interop.py DIR PASSWORD

DIR holds, as written by kiln: cosign.key, cosign.pub, artifact.bin, artifact.bin.sig (cosign
sign-blob format), artifact.bin.sigstore.json (bundle v0.3) and provenance.intoto.jsonl (DSSE
envelopes of in-toto Statements). Checks with pyca/cryptography, securesystemslib and, when
installed, PyNaCl (cosign.key decryption). Prints one line per check; exit status 0 when all
pass, 1 when one fails.
"""

import base64
import copy
import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


def check(name, ok):
    print(("ok   " if ok else "FAIL ") + name)
    if not ok:
        sys.exit(1)


def verifies(key, sig, data):
    try:
        key.verify(sig, data, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def pae(payload_type, payload):
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def main():
    d, password = sys.argv[1], sys.argv[2].encode()
    read = lambda name: open(os.path.join(d, name), "rb").read()

    pub_pem = read("cosign.pub")
    key = serialization.load_pem_public_key(pub_pem)
    check("cosign.pub is a P-256 SubjectPublicKeyInfo PEM", isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1")
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    check("cosign.pub DER is 91 bytes", len(spki) == 91)

    blob = read("artifact.bin")
    sig_text = read("artifact.bin.sig").decode()
    sig = base64.b64decode(sig_text, validate=True)
    check("sign-blob signature is standard base64 of ASN.1 DER", sig[0] == 0x30 and not sig_text.endswith("\n"))
    check("sign-blob signature verifies over the blob (ECDSA P-256, SHA-256)", verifies(key, sig, blob))
    check("sign-blob signature fails on a modified blob", not verifies(key, sig, blob + b"x"))

    bundle = json.loads(read("artifact.bin.sigstore.json"))
    check("bundle media type v0.3", bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json")
    hint = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    check("bundle key hint is base64 SHA-256 of the SPKI", bundle["verificationMaterial"]["publicKey"]["hint"] == hint)
    ms = bundle["messageSignature"]
    check("bundle messageDigest is SHA-256 of the blob", ms["messageDigest"]["digest"] == base64.b64encode(hashlib.sha256(blob).digest()).decode())
    check("bundle signature verifies over the blob", verifies(key, base64.b64decode(ms["signature"]), blob))

    lines = read("provenance.intoto.jsonl").decode().splitlines()
    check("provenance.intoto.jsonl has one envelope per line", len(lines) >= 1 and all(l.startswith("{") for l in lines))
    blob_sha = hashlib.sha256(blob).hexdigest()
    for i, line in enumerate(lines):
        env = json.loads(line)
        payload = base64.b64decode(env["payload"], validate=True)
        s = env["signatures"][0]
        check(f"envelope {i}: keyid is hex SHA-256 of the SPKI", s["keyid"] == hashlib.sha256(spki).hexdigest())
        check(f"envelope {i}: signature verifies over the PAE", verifies(key, base64.b64decode(s["sig"]), pae(env["payloadType"], payload)))
        check(f"envelope {i}: signature does not verify over the bare payload", not verifies(key, base64.b64decode(s["sig"]), payload))
        st = json.loads(payload)
        check(f"envelope {i}: in-toto Statement v1 with SLSA v1 provenance", st["_type"] == "https://in-toto.io/Statement/v1" and st["predicateType"] == "https://slsa.dev/provenance/v1")
        check(f"envelope {i}: the artifact's sha256 is a subject", any(sub["digest"].get("sha256") == blob_sha for sub in st["subject"]))
        check(f"envelope {i}: SLSA buildDefinition and runDetails present", "buildType" in st["predicate"]["buildDefinition"] and "id" in st["predicate"]["runDetails"]["builder"])

        from securesystemslib.dsse import Envelope
        from securesystemslib.signer import SSlibKey
        from securesystemslib.exceptions import VerificationError

        sslib_key = SSlibKey.from_crypto(key, keyid=s["keyid"], scheme="ecdsa-sha2-nistp256")
        accepted = Envelope.from_dict(copy.deepcopy(env)).verify([sslib_key], 1)
        check(f"envelope {i}: securesystemslib DSSE verification", s["keyid"] in accepted)
        tampered = dict(env, payload=base64.b64encode(payload.replace(b"v1", b"v2", 1)).decode())
        try:
            Envelope.from_dict(copy.deepcopy(tampered)).verify([sslib_key], 1)
            check(f"envelope {i}: securesystemslib rejects a modified payload", False)
        except VerificationError:
            check(f"envelope {i}: securesystemslib rejects a modified payload", True)

    try:
        import nacl.secret
    except ImportError:
        print("skip cosign.key decryption: PyNaCl is not installed")
        return
    pem = read("cosign.key").decode()
    check("cosign.key label", pem.startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"))
    body = "".join(l for l in pem.splitlines() if not l.startswith("-----"))
    envelope = json.loads(base64.b64decode(body))
    p = envelope["kdf"]["params"]
    check("cosign.key scrypt parameters", envelope["kdf"]["name"] == "scrypt" and (p["N"], p["r"], p["p"]) == (65536, 8, 1))
    derived = hashlib.scrypt(password, salt=base64.b64decode(envelope["kdf"]["salt"]), n=p["N"], r=p["r"], p=p["p"], maxmem=256 * 1024 * 1024, dklen=32)
    pkcs8 = nacl.secret.SecretBox(derived).decrypt(base64.b64decode(envelope["ciphertext"]), base64.b64decode(envelope["cipher"]["nonce"]))
    private = serialization.load_der_private_key(pkcs8, password=None)
    check("cosign.key decrypts (scrypt + NaCl secretbox) to the cosign.pub key", private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == spki)


if __name__ == "__main__":
    main()
