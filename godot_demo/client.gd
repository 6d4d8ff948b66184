extends Node
## A WebSocketMultiplayerPeer client that talks to a godot-websocket Python server.
##
## It connects with [method WebSocketMultiplayerPeer.create_client], sends packets, and
## reports everything it sees as one line per event on standard output:
## [codeblock]
## E2E {"event":"connected","id":1234567,"tag":"c0",...}
## [/codeblock]
## The end-to-end tests (tests/e2e/) read these lines; a person running the demo reads them
## in the Output panel.
##
## Two transports are supported:
## [br]- [code]raw[/code]: the peer is polled here and never given to SceneMultiplayer, so
## [method PacketPeer.put_packet] bytes travel unchanged, one WebSocket message each.
## [br]- [code]scene[/code]: the peer becomes [member MultiplayerAPI.multiplayer_peer] and
## packets go through [method SceneMultiplayer.send_bytes] (on the wire: [code]03[/code] +
## payload) and come back as [signal SceneMultiplayer.peer_packet].
##
## Configure the public variables, call [method start], and wait for [signal finished].

## Emitted once, with the exit code the program should end with (see the EXIT_* constants).
signal finished(exit_code: int)

const EXIT_OK := 0
const EXIT_FAILED := 1  ## Something unexpected happened (see the "error" record).
const EXIT_CREATE_FAILED := 2  ## create_client() did not return OK.
const EXIT_TIMEOUT := 3  ## Used by main.gd when the scenario did not finish in time.
const EXIT_CONNECTION_FAILED := 4  ## The connection ended before the id message arrived.
const EXIT_BAD_ARGS := 5  ## Used by main.gd for unusable command-line arguments.

## What to do once [member expect_count] packets have arrived.
const THEN_QUIT := "quit"  ## Finish at once (the engine then quits and drops the socket).
const THEN_CLOSE := "close"  ## Call [method MultiplayerPeer.close], report, then finish.
## Send [method waiting_marker], then wait for the server to end the connection.
const THEN_WAIT_DISCONNECT := "wait_disconnect"
const THEN_ACTIONS := [THEN_QUIT, THEN_CLOSE, THEN_WAIT_DISCONNECT]

## How long to keep running after [code]close()[/code] so that the close frame leaves.
const CLOSE_LINGER_MSEC := 300
## Packets bigger than this are reported by size and SHA-256 only, not as hex.
const MAX_HEX_BYTES := 4096

var url := "ws://127.0.0.1:9080"  ## Server URL given to create_client().
var tag := "client"  ## Copied into every record and every packet, to tell clients apart.
var transport := "raw"  ## "raw" or "scene", see the class description.
var send_count := 0  ## Packets to send once connected (see [method make_packet]).
var packet_size := 0  ## Pad each sent packet to at least this many bytes.
var expect_count := 0  ## Packets to receive before doing [member then_action].
var then_action := THEN_QUIT  ## One of THEN_ACTIONS.

var peer: WebSocketMultiplayerPeer
var _received := 0
var _connected := false
var _sent := false
var _acted := false
var _finished := false
var _close_deadline := -1
var _last_status := MultiplayerPeer.CONNECTION_DISCONNECTED


func _ready() -> void:
	set_process(false)


## Print one result record: [code]E2E {json}[/code]. [param fields] may not use the keys
## "event" and "tag".
func report(event: String, fields: Dictionary = {}) -> void:
	var record := fields.duplicate()
	record["event"] = event
	record["tag"] = tag
	record["msec"] = Time.get_ticks_msec()
	print("E2E ", JSON.stringify(record))


## The bytes of the [param index]-th packet this client sends: the UTF-8 text
## [code]"<tag>:<index>"[/code], then the bytes [code]00 ff 80 <index & 0xff>[/code] (not valid
## UTF-8, so a text conversion would show), then filler bytes [code](position * 7) & 0xff[/code]
## up to [member packet_size]. tests/e2e/godot_harness.py has the same function.
func make_packet(index: int) -> PackedByteArray:
	var data := ("%s:%d" % [tag, index]).to_utf8_buffer()
	data.append_array(PackedByteArray([0x00, 0xFF, 0x80, index & 0xFF]))
	var start := data.size()
	if packet_size > start:
		data.resize(packet_size)
		for i in range(start, packet_size):
			data[i] = (i * 7) & 0xFF
	return data


## Validate the settings and connect. Returns false (after finishing) when it cannot start.
func start() -> bool:
	if not (then_action in THEN_ACTIONS):
		report("error", {"message": "unknown then action: %s" % then_action})
		_finish(EXIT_BAD_ARGS)
		return false
	if transport != "raw" and transport != "scene":
		report("error", {"message": "unknown transport: %s" % transport})
		_finish(EXIT_BAD_ARGS)
		return false
	if send_count < 0 or expect_count < 0 or packet_size < 0:
		report("error", {"message": "counts and sizes must not be negative"})
		_finish(EXIT_BAD_ARGS)
		return false

	peer = WebSocketMultiplayerPeer.new()
	peer.peer_connected.connect(_on_peer_connected)
	peer.peer_disconnected.connect(_on_peer_disconnected)
	var err := peer.create_client(url)
	_last_status = peer.get_connection_status()
	report("create_client", {"url": url, "err": err, "status": _last_status, "transport": transport})
	if err != OK:
		_finish(EXIT_CREATE_FAILED)
		return false
	if transport == "scene":
		var scene := multiplayer as SceneMultiplayer
		scene.peer_packet.connect(_on_scene_packet)
		scene.connected_to_server.connect(func() -> void: report("connected_to_server"))
		scene.server_disconnected.connect(func() -> void: report("server_disconnected"))
		scene.connection_failed.connect(func() -> void: report("connection_failed_signal"))
		multiplayer.multiplayer_peer = peer
	set_process(true)
	return true


func _process(_delta: float) -> void:
	if _finished:
		return
	if _close_deadline >= 0:
		if Time.get_ticks_msec() >= _close_deadline:
			_finish(EXIT_OK)
		return
	if transport == "raw":
		peer.poll()  # Signals fire in here; with "scene", SceneMultiplayer polls instead.
		while peer.get_available_packet_count() > 0 and not _finished:
			var from := peer.get_packet_peer()
			_on_packet(from, peer.get_packet())
	if _finished:
		return
	_check_status()
	if _connected and not _sent:
		_send_all()
	_maybe_act()


func _check_status() -> void:
	var status := peer.get_connection_status()
	if status == _last_status:
		return
	report("status", {"status": status, "previous": _last_status})
	var previous := _last_status
	_last_status = status
	if status != MultiplayerPeer.CONNECTION_DISCONNECTED:
		return
	if previous == MultiplayerPeer.CONNECTION_CONNECTING:
		report("connection_failed", {"unique_id": peer.get_unique_id()})
		_finish(EXIT_CONNECTION_FAILED)
	elif then_action == THEN_WAIT_DISCONNECT and _received >= expect_count:
		report("disconnected", {"received": _received})
		_finish(EXIT_OK)
	else:
		report("error", {"message": "disconnected early", "received": _received})
		_finish(EXIT_FAILED)


func _send_all() -> void:
	_sent = true
	for index in range(send_count):
		var data := make_packet(index)
		var err := _send(data)
		report("sent", {"index": index, "err": err, "size": data.size()})
		if err != OK:
			report("error", {"message": "sending failed", "index": index, "err": err})
			_finish(EXIT_FAILED)
			return


func _send(data: PackedByteArray) -> Error:
	if transport == "scene":
		return (multiplayer as SceneMultiplayer).send_bytes(data, MultiplayerPeer.TARGET_PEER_SERVER)
	return peer.put_packet(data)


## The packet sent when waiting to be disconnected: the UTF-8 text [code]"<tag>:waiting"[/code].
func waiting_marker() -> PackedByteArray:
	return ("%s:waiting" % tag).to_utf8_buffer()


func _maybe_act() -> void:
	if _acted or not _connected or not _sent or _received < expect_count:
		return
	_acted = true
	match then_action:
		THEN_QUIT:
			report("done", {"received": _received})
			_finish(EXIT_OK)
		THEN_CLOSE:
			if transport == "scene":
				multiplayer.multiplayer_peer = null
			peer.close()
			report("closed", {
				"status": peer.get_connection_status(),
				"unique_id": peer.get_unique_id(),
				"available": peer.get_available_packet_count(),
			})
			_close_deadline = Time.get_ticks_msec() + CLOSE_LINGER_MSEC
		THEN_WAIT_DISCONNECT:
			# Tell the server we are ready: a server that closes right after sending its
			# last packet can make Godot drop that packet (see the README).
			var err := _send(waiting_marker())
			report("waiting_disconnect", {"received": _received, "err": err})


func _on_peer_connected(id: int) -> void:
	_connected = true
	report("connected", {"peer": id, "id": peer.get_unique_id(), "status": peer.get_connection_status()})


func _on_peer_disconnected(id: int) -> void:
	# Emitted inside poll() before the peer is cleared, so the WebSocketPeer still answers.
	var fields := {"peer": id, "status": peer.get_connection_status()}
	var ws := peer.get_peer(1)
	if ws != null:
		fields["close_code"] = ws.get_close_code()
		fields["close_reason"] = ws.get_close_reason()
		# Messages still inside the WebSocketPeer: the clear after this signal drops them.
		fields["unread"] = ws.get_available_packet_count()
	fields["available"] = peer.get_available_packet_count()
	report("peer_disconnected", fields)


func _on_scene_packet(id: int, data: PackedByteArray) -> void:
	_on_packet(id, data)


func _on_packet(from: int, data: PackedByteArray) -> void:
	_received += 1
	var fields := {"from": from, "n": _received, "size": data.size(), "sha256": _sha256(data)}
	if data.size() <= MAX_HEX_BYTES:
		fields["hex"] = data.hex_encode()
	report("packet", fields)


func _sha256(data: PackedByteArray) -> String:
	var ctx := HashingContext.new()
	ctx.start(HashingContext.HASH_SHA256)
	ctx.update(data)
	return ctx.finish().hex_encode()


## Stop the client (no more polling) and emit [signal finished] once.
func _finish(code: int) -> void:
	if _finished:
		return
	_finished = true
	set_process(false)
	finished.emit(code)


## Give up: report the current state (used by main.gd's timeout).
func abort(reason: String) -> void:
	if _finished:
		return
	var fields := {"reason": reason, "received": _received, "connected": _connected}
	if peer != null:
		fields["status"] = peer.get_connection_status()
		fields["unique_id"] = peer.get_unique_id()
	report("timeout", fields)
	_finish(EXIT_TIMEOUT)
