"""nmap XML as hostile tests write it: one shape for every scan file they make."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<nmaprun scanner="nmap" args="nmap -n" startstr="x">\n'
)
TAIL = "<runstats><finished time='1'/></runstats></nmaprun>\n"


def port_xml(attributes: str, service: str = '<service name="x"/>') -> str:
    return f'<port {attributes}><state state="open"/>{service}</port>'


def host_xml(address: str, *, names: tuple[str, ...] = (), ports: str = "",
             addrtype: str = "ipv4") -> str:  # fmt: skip
    hostnames = "".join(f"<hostname name={quoteattr(n)} type='PTR'/>" for n in names)
    return (
        f'<host><status state="up" reason="syn-ack"/><address addr={quoteattr(address)} '
        f'addrtype="{addrtype}"/><hostnames>{hostnames}</hostnames><ports>{ports}</ports></host>\n'
    )


def scan_xml(*hosts: str) -> str:
    return HEAD + "".join(hosts) + TAIL
