//! Malformed, truncated and oversized frames: an error frame, a closed
//! connection, and everyone else keeps being served.

use cathode_tests::raw::RawPeer;
use cathode_tests::TestServer;
use schema::wire::{ErrorCode, Frame, Hello};
use schema::{CellType, Placement};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_only_the_sender() {
    let server = TestServer::start_with(&["--max-frame-bytes", "65536"]).unwrap();
    let (notebook, bystander) = server.notebook_with_owner("frames").await.unwrap();

    let good_sync = {
        // A real but truncated sync message.
        let mut frame = Frame::Sync {
            doc: schema::DocKind::Notebook,
            message: vec![0x42, 0, 0, 0],
        }
        .encode();
        frame.truncate(3);
        frame
    };
    let cases: Vec<(&str, Vec<u8>, ErrorCode)> = vec![
        ("empty", vec![], ErrorCode::BadFrame),
        ("unknown type", vec![0x66, 1, 2, 3], ErrorCode::BadFrame),
        ("unknown document", vec![0x10, 9, 0x42], ErrorCode::BadFrame),
        ("truncated sync", good_sync, ErrorCode::BadSync),
        (
            "garbage sync",
            vec![0x10, 0, 0xff, 0xff, 0xff],
            ErrorCode::BadSync,
        ),
        (
            "malformed presence",
            vec![0x20, b'{', b'x'],
            ErrorCode::BadFrame,
        ),
        ("oversized", vec![0x10; 100_000], ErrorCode::TooLarge),
        (
            "hello twice",
            Frame::Hello(Hello {
                protocol: 1,
                notebook_id: notebook.clone(),
                token: String::new(),
            })
            .encode(),
            ErrorCode::BadFrame,
        ),
    ];
    for (name, bytes, code) in cases {
        let (mut peer, _) = RawPeer::hello(&server.ws_url(), &server.owner_token, &notebook)
            .await
            .unwrap();
        peer.send_bytes(bytes).await.unwrap();
        let error = peer
            .next_error(WAIT)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name}: no error frame"));
        assert_eq!(error.code, code, "{name}: {}", error.message);
        assert!(error.fatal, "{name}");
        assert!(peer.closed(WAIT).await, "{name}: connection left open");

        // The bystander is still served.
        let label = name.to_owned();
        bystander
            .edit_notebook(move |nb| nb.create_cell(CellType::Markdown, Placement::End, &label))
            .await
            .unwrap()
            .unwrap();
        bystander.wait_acknowledged(WAIT).await.unwrap();
    }

    // Before hello: a text message, a non-hello frame, a wrong protocol.
    let mut peer = RawPeer::open(&server.ws_url()).await.unwrap();
    peer.socket
        .send(tokio_tungstenite::tungstenite::Message::Text("hi".into()))
        .await
        .unwrap();
    assert_eq!(
        peer.next_error(WAIT).await.unwrap().unwrap().code,
        ErrorCode::BadFrame
    );
    let mut peer = RawPeer::open(&server.ws_url()).await.unwrap();
    peer.send_frame(&Frame::Hello(Hello {
        protocol: 99,
        notebook_id: notebook.clone(),
        token: server.owner_token.clone(),
    }))
    .await
    .unwrap();
    assert_eq!(
        peer.next_error(WAIT).await.unwrap().unwrap().code,
        ErrorCode::UnsupportedProtocol
    );

    let count = bystander
        .notebook(|nb| nb.cell_ids().unwrap().len())
        .await
        .unwrap();
    assert_eq!(count, 8);
}

use futures_util::SinkExt;
