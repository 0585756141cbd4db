"""CURVE for Switchboard clients (protocols/security.md), shared by gateway.py and worker.py.

Key files are the ones `switchboard keygen NAME` writes: NAME.key holds `public-key <z85>` and
`secret-key <z85>` lines; hub.pub's first word is the hub's public key.
"""


def read_key_file(path):
    """Returns (public, secret) Z85 keys from a NAME.key file."""
    values = {}
    with open(path, encoding="ascii") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) == 2 and not line.startswith("#"):
                values[fields[0]] = fields[1]
    if "public-key" not in values or "secret-key" not in values:
        raise SystemExit(f"{path}: expected 'public-key' and 'secret-key' lines, as 'switchboard keygen' writes them")
    return values["public-key"], values["secret-key"]


def read_server_key(path):
    """Returns the hub's public key: the first word of its .pub file."""
    with open(path, encoding="ascii") as handle:
        for line in handle:
            if line.strip() and not line.startswith("#"):
                return line.split()[0]
    raise SystemExit(f"{path}: no key found")


def apply(socket, server_key_file, key_file):
    """Makes `socket` a CURVE client of the hub; call before connect."""
    public, secret = read_key_file(key_file)
    socket.curve_serverkey = read_server_key(server_key_file).encode("ascii")
    socket.curve_publickey = public.encode("ascii")
    socket.curve_secretkey = secret.encode("ascii")


def add_arguments(parser):
    """The two options every example client takes for a hub with security: curve."""
    parser.add_argument("--server-key", help="the hub's hub.pub, when it runs with security: curve")
    parser.add_argument("--key", help="this client's NAME.key from 'switchboard keygen' (with --server-key)")


def apply_arguments(socket, args):
    """CURVE from the options of add_arguments, if given; nothing for a hub without security."""
    if args.server_key:
        if not args.key:
            raise SystemExit("--server-key needs --key: this client's NAME.key")
        apply(socket, args.server_key, args.key)
