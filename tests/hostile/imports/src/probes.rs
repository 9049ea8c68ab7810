//! What `fetch` tries through `wasi:filesystem` and `wasi:sockets`.

use std::net::SocketAddrV4;

use wasi::filesystem::preopens;
use wasi::sockets::instance_network::instance_network;
use wasi::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
use wasi::sockets::{ip_name_lookup, tcp_create_socket, udp_create_socket};

/// Every probe, as `(label, observation)`.
pub fn run(target: Option<&str>) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    filesystem(&mut seen);
    sockets(&mut seen, target);
    seen
}

fn filesystem(seen: &mut Vec<(String, String)>) {
    let dirs = preopens::get_directories();
    let names: Vec<&str> = dirs.iter().map(|(_, name)| name.as_str()).collect();
    seen.push(("preopens".to_owned(), format!("{names:?}")));
    for (dir, name) in &dirs {
        let listing = match dir.read_directory() {
            Err(e) => format!("error: {e:?}"),
            Ok(entries) => {
                let mut names = Vec::new();
                loop {
                    match entries.read_directory_entry() {
                        Ok(Some(entry)) => names.push(entry.name),
                        Ok(None) => break,
                        Err(e) => {
                            names.push(format!("error: {e:?}"));
                            break;
                        }
                    }
                }
                names.join("\n")
            }
        };
        seen.push((format!("preopen:{name}"), listing));
    }
    for path in ["/etc/passwd", "secrets.toml", "/proc/self/environ"] {
        let observed = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => format!("error: {e}"),
        };
        seen.push((format!("file:{path}"), observed));
    }
    let listing = match std::fs::read_dir(".") {
        Ok(entries) => entries
            .map(|e| match e {
                Ok(e) => e.file_name().to_string_lossy().into_owned(),
                Err(e) => format!("error: {e}"),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("error: {e}"),
    };
    seen.push(("dir:.".to_owned(), listing));
}

fn sockets(seen: &mut Vec<(String, String)>, target: Option<&str>) {
    let network = instance_network();

    let target = target.unwrap_or("127.0.0.1:9");
    let connected = match target.parse::<SocketAddrV4>() {
        Err(e) => format!("bad target {target:?}: {e}"),
        Ok(addr) => match tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4) {
            Err(e) => format!("create-tcp-socket: {e:?}"),
            Ok(socket) => {
                let [a, b, c, d] = addr.ip().octets();
                let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress {
                    port: addr.port(),
                    address: (a, b, c, d),
                });
                match socket.start_connect(&network, remote) {
                    Err(e) => format!("start-connect: {e:?}"),
                    Ok(()) => loop {
                        match socket.finish_connect() {
                            Err(ErrorCode::WouldBlock) => socket.subscribe().block(),
                            Err(e) => break format!("finish-connect: {e:?}"),
                            Ok(_) => break "connected".to_owned(),
                        }
                    },
                }
            }
        },
    };
    seen.push((format!("tcp:{target}"), connected));

    let udp = match udp_create_socket::create_udp_socket(IpAddressFamily::Ipv4) {
        Err(e) => format!("create-udp-socket: {e:?}"),
        Ok(_) => "created".to_owned(),
    };
    seen.push(("udp".to_owned(), udp));

    let name = "api.dropboxapi.com";
    let resolved = match ip_name_lookup::resolve_addresses(&network, name) {
        Err(e) => format!("resolve-addresses: {e:?}"),
        Ok(stream) => {
            let mut addresses = Vec::new();
            loop {
                match stream.resolve_next_address() {
                    Ok(Some(address)) => addresses.push(format!("{address:?}")),
                    Ok(None) => break,
                    Err(ErrorCode::WouldBlock) => stream.subscribe().block(),
                    Err(e) => {
                        addresses.push(format!("error: {e:?}"));
                        break;
                    }
                }
            }
            addresses.join(", ")
        }
    };
    seen.push((format!("dns:{name}"), resolved));
}
