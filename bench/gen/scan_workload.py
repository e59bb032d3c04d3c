#!/usr/bin/env python3
"""Deterministic scan workload with its ground truth, for `detente scan` tests and benchmarks.

    bench/gen/scan_workload.py [--seed N] [--bytes B] [--hit-rate R] --out DIR

Writes under DIR:
  logs/conn.log  logs/dns.log  logs/http.log  logs/files.log   Zeek TSV (8 header lines, #close)
  logs/access.log                                              Squid native access log
  indicators.txt        the literal indicators, one a line (for `rg -F -f` / `grep -F -f`)
  cidrs.txt             the CIDR indicators (not in indicators.txt: substring tools cannot do CIDR)
  indicators.intel      everything (literals, CIDRs, e-mails) as a Zeek intel file; URLs without scheme
  indicators.stix.json  everything as a STIX 2.1 bundle of indicators, one equality pattern each
  truth.tsv             file, line_no (1-based, headers counted), kind, indicator, matched_value
  summary.json          parameters, counts and the SHA-256 of every file

The truth is exact for a matcher with detente's semantics (crates/detente-scan): domains match
themselves and their subdomains, CIDRs contain addresses (every covering CIDR is a hit), URLs
match scheme-insensitively, also when Zeek splits them over `host` + `uri`, hashes match by
value. Background values are screened so that none of them matches any indicator: background
names are never an indicator domain or below one, background addresses are never an indicator
address nor inside a CIDR indicator, background URLs are never an indicator URL, and random
128/160/256-bit digests stand in for hashes. Kinds in truth.tsv: ipv4, cidr, domain,
subdomain, url (a whole URL in the Squid log), url_split (Zeek host + uri), md5, sha1, sha256.

Deterministic for a given seed and parameters: only random.Random(seed) draws, in a fixed order,
fixed timestamps, no iteration over sets.
"""
import argparse
import bisect
import hashlib
import ipaddress
import json
import os
import random
import sys
import uuid

from files import sha256_file  # beside this script

SYLLABLES = (
    "ar bel cor dan el fin gor hal is jun kar lum mor nel or pra quin ros sul tar ur vel wen xan "
    "yor zel ash bri cal dor fen gal hen ilo jor kel lin mar nor pol rin sol tor vin wol zan"
).split()
NOUNS = (
    "vote poll ballot civic board press news media post daily city county state gov party elect "
    "mail login secure cloud data update portal account bank pay wallet shop market store support "
    "docs wiki blog forum chat meet stream video photo social web host api cdn edge static assets"
).split()
GOOD_TLDS = ("com", "com", "org", "net", "de", "fr", "co.uk", "io", "pl", "ee", "edu", "gov")
BAD_TLDS = ("com", "net", "org", "xyz", "top", "info", "ru", "su", "biz", "pw", "cc", "site")
SUBDOMAINS = ("www", "mail", "api", "cdn", "login", "static", "m", "portal", "update", "ns2")
URL_DIRS = ("admin", "api", "v2", "files", "download", "static", "upload", "panel", "cgi-bin", "news")
URL_EXTS = ("", "", ".php", ".html", ".exe", ".js", ".zip", ".aspx", ".png")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "curl/8.5.0",
    "Microsoft-CryptoAPI/10.0",
    "python-urllib3/2.2.1",
)
MIME_TYPES = ("text/html", "application/pdf", "image/png", "application/zip",
              "application/x-dosexec", "text/plain", "application/javascript")
UID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# First octets never drawn for public addresses: private, loopback, CGNAT, link-local,
# documentation and benchmarking ranges, and 0.
NOT_PUBLIC = {0, 10, 100, 127, 169, 172, 192, 198, 203}
EPOCH = 1726531200  # 2024-09-17T00:00:00Z

ZEEK_LOGS = {
    "conn": ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes "
             "resp_bytes conn_state local_orig local_resp missed_bytes history orig_pkts "
             "orig_ip_bytes resp_pkts resp_ip_bytes tunnel_parents",
             "time string addr port addr port enum string interval count count string bool bool "
             "count string count count count count set[string]"),
    "dns": ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id rtt query qclass "
            "qclass_name qtype qtype_name rcode rcode_name AA TC RD RA Z answers TTLs rejected",
            "time string addr port addr port enum count interval string count string count string "
            "count string bool bool bool bool count vector[string] vector[interval] bool"),
    "http": ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p trans_depth method host uri referrer "
             "version user_agent request_body_len response_body_len status_code status_msg tags "
             "resp_fuids resp_mime_types",
             "time string addr port addr port count string string string string string string "
             "count count count string set[enum] vector[string] vector[string]"),
    "files": ("ts fuid uid id.orig_h id.orig_p id.resp_h id.resp_p source depth analyzers "
              "mime_type filename duration seen_bytes total_bytes md5 sha1 sha256",
              "time string string addr port addr port string count set[string] string string "
              "interval count count string string string"),
}
# Share of the byte budget per log, in writing order.
SHARES = (("conn", 0.35), ("dns", 0.25), ("http", 0.22), ("files", 0.08), ("access", 0.10))


class Source:
    """Every random draw of the workload, from one seeded generator."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def pick(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def chance(self, p):
        return self.rng.random() < p

    def name(self, tlds):
        parts = [self.pick(SYLLABLES) + self.pick(NOUNS)]
        if self.chance(0.4):
            parts.append(self.pick(NOUNS))
        label = self.pick(("", "-")).join(parts)
        if self.chance(0.25):
            label += str(self.rng.randrange(2, 100))
        return label + "." + self.pick(tlds)

    def public_ipv4(self):
        while True:
            first = self.rng.randrange(1, 224)
            if first not in NOT_PUBLIC:
                r = self.rng.randrange
                return "%d.%d.%d.%d" % (first, r(256), r(256), r(1, 255))

    def digest(self, bits):
        return format(self.rng.getrandbits(bits), "0%dx" % (bits // 4))

    def uid(self, prefix):
        return prefix + "".join(self.pick(UID_ALPHABET) for _ in range(17))

    def path(self):
        depth = self.rng.randrange(1, 4)
        p = "/" + "/".join(self.pick(URL_DIRS) for _ in range(depth)) + self.pick(URL_EXTS)
        if self.chance(0.3):
            p += "?q=%d&t=%s" % (self.rng.randrange(1 << 20), self.digest(32))
        return p


class Cidrs:
    """CIDR indicators with containment lookup over sorted ranges."""

    def __init__(self):
        self.nets = []
        self.texts = []

    def add(self, text):
        self.texts.append(text)
        self.nets.append(ipaddress.IPv4Network(text))
        self.starts = sorted((int(n.network_address), i) for i, n in enumerate(self.nets))

    def covering(self, ip):
        """Indices of the CIDRs holding `ip`; /16 is the widest drawn, so they start at most 2^16 below."""
        v = int(ipaddress.IPv4Address(ip))
        lo = bisect.bisect_left(self.starts, (v - (1 << 16), -1))
        hi = bisect.bisect_right(self.starts, (v, len(self.nets)))
        return sorted(
            (i for _, i in self.starts[lo:hi] if v <= int(self.nets[i].broadcast_address)),
        )

    def contains(self, ip):
        return bool(self.covering(ip))


def unique(draw, n, keep=lambda v: True):
    """`n` distinct values from `draw`, in draw order, each accepted by `keep`."""
    seen, out = set(), []
    while len(out) < n:
        v = draw()
        if v not in seen and keep(v):
            seen.add(v)
            out.append(v)
    return out


def under_any(name, domains):
    labels = name.split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels)))


def zeek_header(log):
    fields, types = ZEEK_LOGS[log]
    return ("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
            "#path\t%s\n#open\t2024-09-17-00-00-00\n#fields\t%s\n#types\t%s\n"
            % (log, fields.replace(" ", "\t"), types.replace(" ", "\t")))


def stix_id(kind, seed, n):
    digest = hashlib.sha256(("%s/%d/%d" % (kind, seed, n)).encode()).digest()
    return "%s--%s" % (kind, uuid.UUID(bytes=digest[:16], version=4))


class Workload:
    def __init__(self, args):
        self.a = args
        s = self.src = Source(args.seed)
        self.domains = unique(lambda: s.name(BAD_TLDS), args.n_domains)
        self.domain_set = set(self.domains)
        self.cidrs = Cidrs()
        while len(self.cidrs.texts) < args.n_cidrs:
            bits = s.pick((24, 24, 24, 22, 20, 16))
            net = str(ipaddress.IPv4Network("%s/%d" % (s.public_ipv4(), bits), strict=False))
            if net not in self.cidrs.texts:
                self.cidrs.add(net)
        # Exact addresses stay outside the CIDRs so each planted line has the hits truth lists.
        self.ips = unique(s.public_ipv4, args.n_ips, lambda ip: not self.cidrs.contains(ip))
        self.ip_set = set(self.ips)

        def url_host_ok(h):
            return h not in self.domain_set and h not in self.ip_set and not (
                h[0].isdigit() and self.cidrs.contains(h))

        def url():
            host = s.name(BAD_TLDS) if s.chance(0.85) else s.public_ipv4()
            return s.pick(("http://", "http://", "https://")) + host + s.path()

        self.urls = unique(url, args.n_urls, lambda u: url_host_ok(u.split("://", 1)[1].split("/", 1)[0]))
        self.url_set = {u.split("://", 1)[1] for u in self.urls}
        n_md5, n_sha1 = args.n_hashes * 3 // 10, args.n_hashes * 2 // 10
        self.md5 = [s.digest(128) for _ in range(n_md5)]
        self.sha1 = [s.digest(160) for _ in range(n_sha1)]
        self.sha256 = [s.digest(256) for _ in range(args.n_hashes - n_md5 - n_sha1)]
        self.emails = ["%s.%s@%s" % (s.pick(SYLLABLES), s.pick(NOUNS), s.name(BAD_TLDS))
                       for _ in range(1000)]
        self.literals = ([("domain", v) for v in self.domains] + [("ipv4", v) for v in self.ips]
                         + [("url", v) for v in self.urls] + [("md5", v) for v in self.md5]
                         + [("sha1", v) for v in self.sha1] + [("sha256", v) for v in self.sha256])
        s.rng.shuffle(self.literals)
        self.everything = (self.literals + [("cidr", c) for c in self.cidrs.texts]
                           + [("email", e) for e in self.emails])
        # Background pools, screened against every indicator.
        self.bg_names = unique(
            lambda: (s.pick(SUBDOMAINS) + "." if s.chance(0.5) else "") + s.name(GOOD_TLDS),
            args.n_background, lambda d: not under_any(d, self.domain_set))
        self.bg_servers = unique(s.public_ipv4, args.n_background // 2,
                                 lambda ip: ip not in self.ip_set and not self.cidrs.contains(ip))
        self.clients = (["10.%d.%d.%d" % (s.rng.randrange(4), s.rng.randrange(256), s.rng.randrange(1, 255))
                         for _ in range(1500)]
                        + ["192.168.%d.%d" % (s.rng.randrange(8), s.rng.randrange(1, 255)) for _ in range(500)])
        self.resolvers = ["10.0.0.53", "10.0.1.53", "8.8.8.8", "1.1.1.1"]

    # ---- indicator files ----

    def write_indicators(self, out):
        with open(os.path.join(out, "indicators.txt"), "w") as f:
            f.writelines(v + "\n" for _, v in self.literals)
        with open(os.path.join(out, "cidrs.txt"), "w") as f:
            f.writelines(c + "\n" for c in self.cidrs.texts)
        zeek_type = {"domain": "DOMAIN", "ipv4": "ADDR", "url": "URL", "md5": "FILE_HASH",
                     "sha1": "FILE_HASH", "sha256": "FILE_HASH", "cidr": "SUBNET", "email": "EMAIL"}
        with open(os.path.join(out, "indicators.intel"), "w") as f:
            f.write("#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\n")
            for kind, v in self.everything:
                if kind == "url":  # Zeek's Intel::URL has no scheme
                    v = v.split("://", 1)[1]
                f.write("%s\tIntel::%s\tgenerated-seed-%d\tgenerated %s\t-\n"
                        % (v, zeek_type[kind], self.a.seed, kind))
        if self.a.no_stix:
            return
        path = {"domain": "domain-name:value", "ipv4": "ipv4-addr:value", "cidr": "ipv4-addr:value",
                "url": "url:value", "email": "email-addr:value", "md5": "file:hashes.MD5",
                "sha1": "file:hashes.'SHA-1'", "sha256": "file:hashes.'SHA-256'"}
        objects = []
        for n, (kind, v) in enumerate(self.everything):
            literal = v.replace("\\", "\\\\").replace("'", "\\'")
            objects.append({
                "type": "indicator", "spec_version": "2.1", "id": stix_id("indicator", self.a.seed, n),
                "created": "2024-09-17T00:00:00.000Z", "modified": "2024-09-17T00:00:00.000Z",
                "name": "generated %s" % kind, "indicator_types": ["malicious-activity"],
                "pattern": "[%s = '%s']" % (path[kind], literal), "pattern_type": "stix",
                "valid_from": "2024-09-17T00:00:00Z", "confidence": n * 37 % 101,
            })
        bundle = {"type": "bundle", "id": stix_id("bundle", self.a.seed, 0), "objects": objects}
        with open(os.path.join(out, "indicators.stix.json"), "w") as f:
            json.dump(bundle, f, separators=(",", ":"))

    # ---- log lines: each returns (fields or line, planted hits [(kind, indicator, value)]) ----

    def address_in_cidr(self):
        s = self.src
        net = self.cidrs.nets[s.rng.randrange(len(self.cidrs.nets))]
        while True:
            ip = str(net.network_address + s.rng.randrange(net.num_addresses))
            if not ip.endswith((".0", ".255")):
                return ip

    def cidr_hits(self, ip):
        return [("cidr", self.cidrs.texts[i], ip) for i in self.cidrs.covering(ip)]

    def conn(self, n, hit):
        s, r = self.src, self.src.rng.randrange
        server, hits = s.pick(self.bg_servers), []
        if hit:
            if s.chance(0.85):
                server = s.pick(self.ips)
                hits = [("ipv4", server, server)]
            else:
                server = self.address_in_cidr()
                hits = self.cidr_hits(server)
        tcp = s.chance(0.8)
        sent, got = r(5000), r(200000)
        return [self.ts(n, 0.0007), s.uid("C"), s.pick(self.clients), str(r(1024, 65536)), server,
                s.pick(("443", "443", "80", "53", "22", "8443")), "tcp" if tcp else "udp",
                s.pick(("ssl", "http", "-", "ssh")) if tcp else s.pick(("dns", "ntp", "-")),
                "%.6f" % (s.rng.random() * 20), str(sent), str(got),
                s.pick(("SF", "SF", "S0", "REJ", "RSTO", "SH")), "T", "F", "0",
                s.pick(("ShADadFf", "ShADadfF", "S", "Dd")), str(r(1, 200)), str(sent + 400),
                str(r(1, 300)), str(got + 600), "-"], hits

    def planted_name(self, exact):
        """An indicator domain (`exact`) or a name below one, and the hit it makes."""
        s = self.src
        domain = s.pick(self.domains)
        if exact:
            return domain, [("domain", domain, domain)]
        name = s.pick(SUBDOMAINS) + "." + domain
        return name, [("subdomain", domain, name)]

    def dns(self, n, hit):
        s, r = self.src, self.src.rng.randrange
        query, answer, hits = s.pick(self.bg_names), s.pick(self.bg_servers), []
        if hit:
            x = s.rng.random()
            if x < 0.85:
                query, hits = self.planted_name(x < 0.55)
            else:
                answer = s.pick(self.ips)
                hits = [("ipv4", answer, answer)]
        nxdomain = not (hits and hits[0][0] == "ipv4") and s.chance(0.05)
        qtype = s.pick((("1", "A"), ("1", "A"), ("28", "AAAA"), ("5", "CNAME"), ("16", "TXT")))
        return [self.ts(n, 0.001), s.uid("C"), s.pick(self.clients), str(r(1024, 65536)),
                s.pick(self.resolvers), "53", "udp", str(r(65536)), "%.6f" % (s.rng.random() / 10),
                query, "1", "C_INTERNET", qtype[0], qtype[1], "3" if nxdomain else "0",
                "NXDOMAIN" if nxdomain else "NOERROR", "F", "F", "T", "T", "0",
                "-" if nxdomain else answer, "-" if nxdomain else "%d.000000" % r(30, 86400), "F"], hits

    def background_url_parts(self):
        s = self.src
        while True:
            host, uri = s.pick(self.bg_names), s.path()
            if host + uri not in self.url_set:
                return host, uri

    def http(self, n, hit):
        s, r = self.src, self.src.rng.randrange
        (host, uri), server, hits = self.background_url_parts(), s.pick(self.bg_servers), []
        if hit:
            x = s.rng.random()
            if x < 0.55:
                host, hits = self.planted_name(x < 0.4)
            elif x < 0.75:
                server = s.pick(self.ips)
                hits = [("ipv4", server, server)]
            else:
                url = s.pick(self.urls)
                host, slash, rest = url.split("://", 1)[1].partition("/")
                uri = slash + rest
                hits = [("url_split", url, host + uri)]
        method = s.pick(("GET", "GET", "GET", "POST", "HEAD"))
        status = s.pick((("200", "OK"), ("200", "OK"), ("304", "Not Modified"), ("404", "Not Found"),
                         ("302", "Found")))
        referrer = "http://%s/" % s.pick(self.bg_names) if s.chance(0.4) else "-"
        return [self.ts(n, 0.0012), s.uid("C"), s.pick(self.clients), str(r(1024, 65536)), server,
                "80", "1", method, host, uri, referrer, "1.1", s.pick(USER_AGENTS),
                str(r(10, 5000)) if method == "POST" else "0", str(r(500000)), status[0], status[1],
                "(empty)", s.uid("F"), s.pick(MIME_TYPES)], hits

    def files(self, n, hit):
        s, r = self.src, self.src.rng.randrange
        sums, hits = [s.digest(128), s.digest(160), s.digest(256)], []
        if hit:
            x = s.rng.random()
            which = 0 if x < 0.3 else 1 if x < 0.5 else 2
            kind, pool = (("md5", self.md5), ("sha1", self.sha1), ("sha256", self.sha256))[which]
            sums[which] = s.pick(pool)
            hits = [(kind, sums[which], sums[which])]
        size = r(100, 5_000_000)
        return [self.ts(n, 0.004), s.uid("F"), s.uid("C"), s.pick(self.bg_servers), "80",
                s.pick(self.clients), str(r(1024, 65536)), "HTTP", "0", "MD5,SHA1,SHA256",
                s.pick(MIME_TYPES), "-", "%.6f" % s.rng.random(), str(size), str(size)] + sums, hits

    def access(self, n, hit):
        s, r = self.src, self.src.rng.randrange
        host, uri = self.background_url_parts()
        url, hits = s.pick(("http://", "https://")) + host + uri, []
        if hit:
            if s.chance(0.7):
                url = s.pick(self.urls)
                hits = [("url", url, url)]
            else:
                domain = s.pick(self.domains)
                url = "http://" + domain + s.path()
                hits = [("domain", domain, domain)]
        line = "%.3f %6d %s %s %d %s %s - HIER_DIRECT/%s %s" % (
            EPOCH + n * 0.003, r(1, 3000), s.pick(self.clients),
            s.pick(("TCP_MISS/200", "TCP_HIT/200", "TCP_MISS/304", "TCP_DENIED/403")),
            r(200, 300000), "GET" if s.chance(0.85) else "POST", url, s.pick(self.bg_servers),
            s.pick(MIME_TYPES))
        return line, hits

    def ts(self, n, step):
        return "%.6f" % (EPOCH + (n + self.src.rng.random()) * step)

    def write_logs(self, out, truth):
        counts = {}
        for log, share in SHARES:
            budget, path = int(self.a.bytes * share), os.path.join(out, "logs", log + ".log")
            make = getattr(self, log)
            zeek = log in ZEEK_LOGS
            written, line_no, records, planted, chunk = 0, 0, 0, 0, []
            with open(path, "w", buffering=1 << 22) as f:
                if zeek:
                    header = zeek_header(log)
                    f.write(header)
                    written, line_no = len(header), 8
                while written < budget:
                    records += 1
                    line_no += 1
                    body, hits = make(records, self.src.chance(self.a.hit_rate))
                    line = ("\t".join(body) if zeek else body) + "\n"
                    chunk.append(line)
                    written += len(line)
                    planted += bool(hits)
                    for kind, indicator, value in hits:
                        truth.write("%s.log\t%d\t%s\t%s\t%s\n" % (log, line_no, kind, indicator, value))
                    if len(chunk) >= 10000:
                        f.write("".join(chunk))
                        chunk = []
                f.write("".join(chunk))
                if zeek:
                    f.write("#close\t2024-09-18-00-00-00\n")
                    line_no += 1
            counts[log] = {"lines": line_no, "records": records, "bytes": os.path.getsize(path),
                           "planted_lines": planted}
            print(log, counts[log], file=sys.stderr, flush=True)
        return counts


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=20240917)
    p.add_argument("--bytes", type=int, default=1_000_000_000, help="log bytes, approximately")
    p.add_argument("--hit-rate", type=float, default=0.001, help="share of log lines with a hit")
    p.add_argument("--out", default="workload")
    p.add_argument("--n-domains", type=int, default=40000)
    p.add_argument("--n-ips", type=int, default=25000)
    p.add_argument("--n-urls", type=int, default=15000)
    p.add_argument("--n-hashes", type=int, default=20000)
    p.add_argument("--n-cidrs", type=int, default=500)
    p.add_argument("--n-background", type=int, default=60000, help="background names (servers: half)")
    p.add_argument("--no-stix", action="store_true", help="skip indicators.stix.json")
    a = p.parse_args()
    os.makedirs(os.path.join(a.out, "logs"), exist_ok=True)
    w = Workload(a)
    w.write_indicators(a.out)
    with open(os.path.join(a.out, "truth.tsv"), "w") as truth:
        truth.write("file\tline_no\tkind\tindicator\tmatched_value\n")
        counts = w.write_logs(a.out, truth)
    files = {}
    for root, _, names in sorted(os.walk(a.out)):
        for name in sorted(names):
            full = os.path.join(root, name)
            if name != "summary.json":
                files[os.path.relpath(full, a.out)] = {"bytes": os.path.getsize(full),
                                                       "sha256": sha256_file(full)}
    summary = {
        "generator": "bench/gen/scan_workload.py", "seed": a.seed, "bytes_target": a.bytes,
        "hit_rate": a.hit_rate, "python": sys.version.split()[0],
        "indicators": {"domain": len(w.domains), "ipv4": len(w.ips), "url": len(w.urls),
                       "md5": len(w.md5), "sha1": len(w.sha1), "sha256": len(w.sha256),
                       "cidr": len(w.cidrs.texts), "email": len(w.emails)},
        "logs": counts, "files": files,
    }
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
