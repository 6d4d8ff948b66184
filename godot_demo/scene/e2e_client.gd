extends Node
## End-to-end test client for the Python SceneMultiplayer (tests/e2e/test_scene_*.py).
##
## This script is the node at /root/Main. Its @rpc methods are the declarations the Python
## side reads with godot_websocket.scene.load_gdscript_rpc(), so the method ids and the RPC
## checksum must agree on both sides. It reports what happens as "E2E {json}" lines (the
## same format as ../client.gd) and quits with an exit code: 0 success, 1 failure,
## 2 create_client() failed, 3 timeout, 5 bad arguments.
##
## User arguments (after "--"): --url, --tag, --timeout, --scenario and
## [br]- rpc: call Python with many argument types, receive Python's calls, quit on s2c_done;
## [br]- relay: talk to the other client(s) through the Python relay (RPC and send_bytes);
## [br]- auth: authenticate with --secret; --expect_auth=ok|fail says which outcome passes;
## [br]- checksum: like rpc but the script (e2e_client_extra.gd) has one more @rpc method.

const EXIT_OK := 0
const EXIT_FAILED := 1
const EXIT_CREATE_FAILED := 2
const EXIT_TIMEOUT := 3
const EXIT_BAD_ARGS := 5

var url := "ws://127.0.0.1:9080"
var tag := "client"
var scenario := "rpc"
var secret := ""
var expect_auth := "ok"
var relay_peers := 1

var peer: WebSocketMultiplayerPeer
var _finished := false
var _c2s_calls := 0
var _got := {}
var _others := []
var _relay_sent := false


func _ready() -> void:
	var args := _parse_args(OS.get_cmdline_user_args())
	url = args.get("url", url)
	tag = args.get("tag", tag)
	scenario = args.get("scenario", scenario)
	secret = args.get("secret", secret)
	expect_auth = args.get("expect_auth", expect_auth)
	relay_peers = int(args.get("peers", str(relay_peers)))
	var timeout := float(args.get("timeout", "20"))
	get_tree().create_timer(timeout, true, false, true).timeout.connect(_on_timeout)
	report("start", {"scenario": scenario, "engine": Engine.get_version_info()["string"],
		"path": str(get_path())})
	if not scenario in ["rpc", "relay", "auth", "checksum"]:
		report("error", {"message": "unknown scenario " + scenario})
		_finish(EXIT_BAD_ARGS)
		return

	var mp := multiplayer as SceneMultiplayer
	mp.connected_to_server.connect(_on_connected_to_server)
	mp.server_disconnected.connect(func() -> void: _on_server_gone("server_disconnected"))
	mp.connection_failed.connect(func() -> void: _on_server_gone("connection_failed"))
	mp.peer_connected.connect(_on_peer_connected)
	mp.peer_disconnected.connect(func(id: int) -> void: report("peer_disconnected", {"peer": id}))
	mp.peer_packet.connect(_on_peer_packet)
	mp.peer_authenticating.connect(_on_peer_authenticating)
	mp.peer_authentication_failed.connect(_on_peer_authentication_failed)
	if scenario == "auth":
		mp.auth_callback = _on_auth_data
		mp.auth_timeout = 5.0

	peer = WebSocketMultiplayerPeer.new()
	var err := peer.create_client(url)
	report("create_client", {"url": url, "err": err})
	if err != OK:
		_finish(EXIT_CREATE_FAILED)
		return
	multiplayer.multiplayer_peer = peer


static func _parse_args(user_args: PackedStringArray) -> Dictionary:
	var parsed := {}
	for arg in user_args:
		if arg.begins_with("--"):
			var pair := arg.substr(2).split("=", true, 1)
			parsed[pair[0]] = pair[1] if pair.size() > 1 else "true"
	return parsed


## One record per line: E2E {json} with event, tag and msec.
func report(event: String, fields: Dictionary = {}) -> void:
	var record := fields.duplicate()
	record["event"] = event
	record["tag"] = tag
	record["msec"] = Time.get_ticks_msec()
	print("E2E ", JSON.stringify(record))


## Every argument as Godot sees it: its type name and var_to_bytes() in hex.
func describe(values: Array) -> Array:
	var out := []
	for value in values:
		out.append({"type": type_string(typeof(value)), "hex": var_to_bytes(value).hex_encode()})
	return out


func _finish(code: int) -> void:
	if _finished:
		return
	_finished = true
	report("exit", {"code": code})
	get_tree().quit(code)


func _fail(message: String) -> void:
	report("error", {"message": message})
	_finish(EXIT_FAILED)


func _on_timeout() -> void:
	report("timeout", {"got": _got.keys()})
	_finish(EXIT_TIMEOUT)


func _on_server_gone(what: String) -> void:
	report(what)
	if scenario == "auth" and expect_auth == "fail":
		_finish(EXIT_OK if _got.has("auth_failed") else EXIT_FAILED)
	elif not _finished:
		_fail(what + " before the scenario finished")


func _on_connected_to_server() -> void:
	report("connected", {"peer": 1, "id": multiplayer.get_unique_id()})
	report("connected_to_server", {"peers": Array(multiplayer.get_peers())})
	match scenario:
		"rpc", "checksum":
			_call_c2s()
		"auth":
			if expect_auth == "fail":
				_fail("admitted with a wrong secret")
			else:
				rpc_id(1, "c2s_none")
		"relay":
			_maybe_relay()


func _on_peer_connected(id: int) -> void:
	report("peer_connected", {"peer": id})
	if id != 1 and not id in _others:
		_others.append(id)
		_maybe_relay()


func _on_peer_packet(id: int, data: PackedByteArray) -> void:
	report("packet", {"from": id, "hex": data.hex_encode()})
	var text := data.get_string_from_utf8()
	if text == "done":
		_finish(EXIT_OK)
		return
	if scenario == "relay":
		_got["bytes:%d:%s" % [id, text]] = true
		_check_relay_done()
	else:
		_got["bytes"] = true
		_check_rpc_done()


func _on_peer_authenticating(id: int) -> void:
	report("peer_authenticating", {"peer": id, "pending": Array(multiplayer.get_authenticating_peers())})
	var mp := multiplayer as SceneMultiplayer
	# Not auth traffic: a Godot client sends it even while pending (a relay envelope to 0);
	# the server must drop it.
	var err_early := mp.send_bytes("early".to_utf8_buffer())
	report("sent_early", {"err": err_early})
	var err_send := mp.send_auth(id, secret.to_utf8_buffer())
	var err_done := mp.complete_auth(id)
	report("auth_sent", {"send_auth": err_send, "complete_auth": err_done})


func _on_auth_data(id: int, data: PackedByteArray) -> void:
	report("auth_data", {"peer": id, "text": data.get_string_from_utf8()})


func _on_peer_authentication_failed(id: int) -> void:
	_got["auth_failed"] = true
	report("peer_authentication_failed", {"peer": id})


# -- rpc scenario -------------------------------------------------------------------------------

func _call_c2s() -> void:
	_c2s_calls += 1
	var typed: Array[int] = [1, 2]
	var err := rpc_id(1, "c2s_types", 42, 300, -2147483649, 1099511627776, true, false, 0.5, 0.1,
			"héllo ✓", &"sname", NodePath("Main/Child:position"), Vector2(1.5, -2.0),
			Vector3i(1, 2, 3), Color(1, 0, 0, 1), [1, "two", 3.5, null], {"k": 1, 2: [true]},
			PackedByteArray([1, 2, 3]), null, typed, PackedInt32Array([1, -1]),
			PackedStringArray(["p"]), _c2s_calls)
	report("called", {"method": "c2s_types", "err": err, "n": _c2s_calls})
	if _c2s_calls == 1:
		rpc_id(1, "c2s_bytes", PackedByteArray([0xde, 0xad, 0xbe, 0xef, 1]))
		rpc_id(1, "c2s_none")
		(multiplayer as SceneMultiplayer).send_bytes(("%s:hello" % tag).to_utf8_buffer(), 1)
		(multiplayer as SceneMultiplayer).send_bytes(("%s:to-all" % tag).to_utf8_buffer())


func _check_rpc_done() -> void:
	if _c2s_calls == 1 and _got.has("s2c_types") and _got.has("s2c_bytes") \
			and _got.has("s2c_none") and _got.has("bytes"):
		_call_c2s()  # The path is confirmed by now: this call uses the short form.


@rpc("any_peer")
func c2s_types(_a0, _a1, _a2, _a3, _a4, _a5, _a6, _a7, _a8, _a9, _a10, _a11, _a12, _a13,
		_a14, _a15, _a16, _a17, _a18, _a19, _a20, _a21) -> void:
	_fail("c2s_types called on the client")


@rpc("any_peer")
func c2s_bytes(_data: PackedByteArray) -> void:
	_fail("c2s_bytes called on the client")


@rpc("any_peer")
func c2s_none() -> void:
	_fail("c2s_none called on the client")


@rpc
func s2c_types(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16,
		a17, a18, a19) -> void:
	_got["s2c_types"] = true
	report("s2c_types", {"sender": multiplayer.get_remote_sender_id(), "args": describe(
			[a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17,
			a18, a19])})
	_check_rpc_done()


@rpc
func s2c_bytes(data: PackedByteArray) -> void:
	_got["s2c_bytes"] = true
	report("s2c_bytes", {"sender": multiplayer.get_remote_sender_id(), "hex": data.hex_encode()})
	_check_rpc_done()


@rpc
func s2c_none() -> void:
	_got["s2c_none"] = true
	report("s2c_none", {"sender": multiplayer.get_remote_sender_id()})
	_check_rpc_done()


@rpc
func s2c_done(summary: Dictionary) -> void:
	report("s2c_done", {"sender": multiplayer.get_remote_sender_id(), "summary": summary})
	_finish(EXIT_OK)


# -- relay scenario -----------------------------------------------------------------------------

func _maybe_relay() -> void:
	if _relay_sent or _others.size() < relay_peers or multiplayer.get_unique_id() == 0:
		return
	if not 1 in multiplayer.get_peers():
		return
	_relay_sent = true
	var mp := multiplayer as SceneMultiplayer
	for other in _others:
		var err := rpc_id(other, "chat", "hello from %s" % tag)
		var err_bytes := mp.send_bytes(("%s:direct" % tag).to_utf8_buffer(), other)
		report("relay_sent", {"to": other, "rpc": err, "bytes": err_bytes})
	mp.send_bytes(("%s:all" % tag).to_utf8_buffer())
	rpc("chat", "broadcast from %s" % tag)


@rpc("any_peer", "call_remote", "reliable")
func chat(text: String) -> void:
	var sender := multiplayer.get_remote_sender_id()
	report("chat", {"sender": sender, "text": text})
	if sender != 1:
		_got["chat:%d:%s" % [sender, text]] = true
	_check_relay_done()


func _check_relay_done() -> void:
	# From every other client: a chat RPC, a broadcast RPC, direct bytes and broadcast bytes.
	if _others.size() < relay_peers:
		return
	for other in _others:
		var n := 0
		for key in _got.keys():
			if key.begins_with("chat:%d:" % other) or key.begins_with("bytes:%d:" % other):
				n += 1
		if n < 4:
			return
	report("relay_done", {"got": _got.keys()})
	_finish(EXIT_OK)
