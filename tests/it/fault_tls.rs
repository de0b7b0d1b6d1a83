//! The fault SMTP server itself: over implicit TLS and STARTTLS (reached as `localhost`, trusted
//! through the test CA), it offers PIPELINING and counts a MAIL/RCPT/DATA group sent in one write
//! as pipelined; with `no_pipelining` its EHLO leaves it out. A small rustls client drives it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::sandbox::{test_ca, FaultServer, Faults, TlsMode};

trait Conn: Read + Write {}
impl<T: Read + Write> Conn for T {}

/// TLS to `localhost` over `tcp`, trusting only the test CA.
fn tls(tcp: TcpStream) -> Box<dyn Conn> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(test_ca()).expect("ca.pem") {
        roots.add(cert.expect("a certificate")).expect("the CA");
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("a name");
    let conn = ClientConnection::new(Arc::new(config), name).expect("a TLS client");
    Box::new(StreamOwned::new(conn, tcp))
}

fn send(c: &mut BufReader<Box<dyn Conn>>, text: &str) {
    let out = c.get_mut();
    out.write_all(text.as_bytes()).expect("sent");
    out.flush().expect("sent");
}

/// Reads one reply, every line of it, and checks its code.
fn expect(c: &mut BufReader<Box<dyn Conn>>, code: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        c.read_line(&mut line).expect("a reply");
        assert!(line.starts_with(code), "wanted {code}: {lines:?} {line:?}");
        lines.push(line.trim_end().to_string());
        if line.as_bytes().get(3) != Some(&b'-') {
            return lines;
        }
    }
}

/// One message to ada@example.com, its MAIL, RCPT and DATA in one write (`pipeline`) or one by
/// one; returns the EHLO reply (the one after STARTTLS).
fn deliver(server: &FaultServer, mode: Option<TlsMode>, pipeline: bool) -> Vec<String> {
    let tcp = TcpStream::connect(("localhost", server.port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let raw = tcp.try_clone().unwrap();
    let mut c = BufReader::new(match mode {
        Some(TlsMode::Implicit) => tls(tcp),
        _ => Box::new(tcp) as Box<dyn Conn>,
    });
    expect(&mut c, "220");
    send(&mut c, "EHLO client.test\r\n");
    let mut ehlo = expect(&mut c, "250");
    let offers = |ehlo: &[String], what: &str| ehlo.iter().any(|l| l[4..] == *what);
    assert_eq!(offers(&ehlo, "STARTTLS"), mode == Some(TlsMode::StartTls));
    if mode == Some(TlsMode::StartTls) {
        send(&mut c, "STARTTLS\r\n");
        expect(&mut c, "220");
        c = BufReader::new(tls(raw));
        send(&mut c, "EHLO client.test\r\n");
        ehlo = expect(&mut c, "250");
        assert!(!offers(&ehlo, "STARTTLS"), "{ehlo:?}");
    }
    assert_eq!(offers(&ehlo, "PIPELINING"), pipeline, "{ehlo:?}");
    let group = [
        "MAIL FROM:<shop@wanderly.example>\r\n",
        "RCPT TO:<ada@example.com>\r\n",
        "DATA\r\n",
    ];
    if pipeline {
        send(&mut c, &group.concat());
    }
    for (command, code) in group.iter().zip(["250", "250", "354"]) {
        if !pipeline {
            send(&mut c, command);
        }
        expect(&mut c, code);
    }
    send(&mut c, "Subject: hi\r\n\r\n..a dot\r\n.\r\n");
    expect(&mut c, "250");
    send(&mut c, "QUIT\r\n");
    expect(&mut c, "221");
    ehlo
}

#[test]
fn over_tls_the_fault_server_offers_pipelining_and_counts_a_group_sent_in_one_write() {
    for (mode, scheme) in [
        (TlsMode::Implicit, "smtps://localhost:"),
        (TlsMode::StartTls, "smtp://localhost:"),
    ] {
        let server = FaultServer::start_tls(Faults::default(), mode);
        assert!(server.url().starts_with(scheme), "{}", server.url());
        deliver(&server, Some(mode), true);
        let accepted = server.accepted();
        assert_eq!(accepted.len(), 1, "{mode:?}");
        assert_eq!(accepted[0].to, "ada@example.com");
        assert_eq!(accepted[0].data, "Subject: hi\r\n\r\n.a dot\r\n");
        assert_eq!(accepted[0].connection, 1);
        let counts = (server.connections(), server.mails(), server.pipelined());
        assert_eq!(counts, (1, 1, 1), "{mode:?}");
        assert_eq!(server.quits(), 1);
    }
}

#[test]
fn without_pipelining_the_ehlo_leaves_it_out_and_commands_one_by_one_are_not_counted() {
    let server = FaultServer::start(Faults {
        no_pipelining: true,
        ..Faults::default()
    });
    deliver(&server, None, false);
    assert_eq!(server.accepted().len(), 1);
    assert_eq!((server.mails(), server.pipelined()), (1, 0));
}
