//! Frames over tokio streams: reading whole frames off a socket, and a connection a
//! client (the load generator, the nemesis, a test) holds to one node.

use crate::frame::{encode, Hello, Reader};
use crate::wire::{self, Wire};
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bytes asked of the socket per read.
const CHUNK: usize = 16 << 10;

/// The next whole frame from `r`, `None` at a clean end of stream. A frame beyond the
/// bound is an `InvalidData` error: the caller closes the connection.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    reader: &mut Reader,
) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match reader.next_frame() {
            Ok(Some(frame)) => return Ok(Some(frame)),
            Ok(None) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        reader.feed(&buf[..n]);
    }
}

/// A client's connection to one node, after the handshake.
pub struct Conn {
    stream: TcpStream,
    reader: Reader,
}

impl Conn {
    pub async fn connect(addr: SocketAddr, cluster: &str) -> io::Result<Conn> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        stream.write_all(&Hello::client(cluster).encode()).await?;
        Ok(Conn {
            stream,
            reader: Reader::default(),
        })
    }

    pub async fn send<T: Wire>(&mut self, value: &T) -> io::Result<()> {
        self.stream.write_all(&encode(&wire::encode(value))).await
    }

    /// Raw bytes, for tests that send what no encoder would.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// The next value, `None` once the node closed the connection.
    pub async fn recv<T: Wire>(&mut self) -> io::Result<Option<T>> {
        let Some(frame) = read_frame(&mut self.stream, &mut self.reader).await? else {
            return Ok(None);
        };
        wire::decode(&frame, "response")
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}
