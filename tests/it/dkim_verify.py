"""Verifies the DKIM signature of messages with dkimpy, an independent implementation, the public key
served by a stub DNS function instead of the network.

    python3 dkim_verify.py NOW PUBLIC_KEY_PEM DNS_NAME FILE...

PUBLIC_KEY_PEM is the key's public half as `openssl pkey -pubout` writes it (RSA or Ed25519), published
at DNS_NAME (`<selector>._domainkey.<domain>`). Prints one line per file, `pass FILE` or `fail FILE`,
then `record <the TXT value served>`. NOW (Unix seconds) is the instant the messages are read at: the
run's `--now`, which is their `t=` (dkimpy refuses a signature from the future)."""
import base64
import sys
import time

import dkim

now, pem_path, dns_name, files = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
time.time = lambda: now
lines = open(pem_path).read().split("\n")
spki = base64.b64decode("".join(l for l in lines if l and not l.startswith("-----")))
if len(spki) == 44:  # Ed25519 SubjectPublicKeyInfo: 12 bytes of header, the raw 32-byte key
    record = "v=DKIM1; k=ed25519; p=" + base64.b64encode(spki[12:]).decode()
else:
    record = "v=DKIM1; k=rsa; p=" + base64.b64encode(spki).decode()


def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    if name.rstrip(".") == dns_name:
        return record.encode()
    return None


for path in files:
    message = open(path, "rb").read()
    ok = dkim.verify(message, dnsfunc=dnsfunc)
    print(("pass " if ok else "fail ") + path)
print("record " + record)
