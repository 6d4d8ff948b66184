extends Control
## A small chat lobby: the Godot half of the godot-websocket SceneMultiplayer demo.
##
## The server is Python: examples/chat_server.py (it reads the @rpc methods below from this
## file, so both sides number them the same way). Run the server, then this scene:
## [codeblock]
## python examples/chat_server.py --port 9080
## godot --path godot_demo res://scene/chat.tscn -- --url=ws://127.0.0.1:9080 --name=Ada
## [/codeblock]
## Type a message and press Enter; "/w Name text" whispers to one player, straight through
## the server's relay (the server only forwards it). User arguments (after "--"):
## [br]- [code]--url[/code] (default ws://127.0.0.1:9080), [code]--name[/code],
## [code]--secret[/code] (authenticate with it when the server asks for one);
## [br]- automation (used by tests/e2e/test_scene_chat_demo.py): [code]--players=N[/code] wait
## until N players are in the lobby, then send [code]--say[/code] to everyone and
## [code]--whisper[/code] to every other player, and quit once [code]--expect=M[/code] chat
## lines (messages and whispers from others) have arrived; [code]--timeout[/code] seconds.
## Every event is also printed as one "E2E {json}" line.

var url := "ws://127.0.0.1:9080"
var player_name := ""
var secret := ""
var players := {}  # peer id -> name, as the server announced it
var auto_players := 0
var auto_say := ""
var auto_whisper := ""
var auto_expect := 0

var _log: RichTextLabel
var _list: ItemList
var _input: LineEdit
var _status: Label
var _chat_lines := 0
var _auto_done := false
var _quitting := false


func _ready() -> void:
	_build_ui()
	var args := {}
	for arg in OS.get_cmdline_user_args():
		if arg.begins_with("--"):
			var pair := arg.substr(2).split("=", true, 1)
			args[pair[0]] = pair[1] if pair.size() > 1 else "true"
	url = args.get("url", url)
	player_name = args.get("name", "player%d" % (randi() % 1000))
	secret = args.get("secret", "")
	auto_players = int(args.get("players", "0"))
	auto_say = args.get("say", "")
	auto_whisper = args.get("whisper", "")
	auto_expect = int(args.get("expect", "0"))
	if args.has("timeout"):
		get_tree().create_timer(float(args["timeout"]), true, false, true).timeout.connect(
				func() -> void: _quit(3, "timeout"))

	var mp := multiplayer as SceneMultiplayer
	mp.connected_to_server.connect(_on_connected)
	mp.connection_failed.connect(func() -> void: _show("Cannot reach %s" % url, "failed"))
	mp.server_disconnected.connect(_on_server_disconnected)
	if secret != "":
		# Both sides must opt in: with a callback the client authenticates before it is
		# admitted (and the server's 07 00 completion admits the server here).
		mp.auth_callback = _on_auth_data
		mp.peer_authenticating.connect(_on_authenticating)
	var peer := WebSocketMultiplayerPeer.new()
	var err := peer.create_client(url)
	if err != OK:
		_show("create_client failed: %s" % error_string(err), "failed")
		return
	multiplayer.multiplayer_peer = peer
	_status.text = "Connecting to %s as %s..." % [url, player_name]
	report("start", {"url": url, "name": player_name})


func _build_ui() -> void:
	set_anchors_preset(Control.PRESET_FULL_RECT)
	var box := VBoxContainer.new()
	box.set_anchors_preset(Control.PRESET_FULL_RECT)
	add_child(box)
	_status = Label.new()
	box.add_child(_status)
	var row := HBoxContainer.new()
	row.size_flags_vertical = Control.SIZE_EXPAND_FILL
	box.add_child(row)
	_log = RichTextLabel.new()
	_log.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	_log.scroll_following = true
	row.add_child(_log)
	_list = ItemList.new()
	_list.custom_minimum_size = Vector2(160, 0)
	row.add_child(_list)
	var bottom := HBoxContainer.new()
	box.add_child(bottom)
	_input = LineEdit.new()
	_input.size_flags_horizontal = Control.SIZE_EXPAND_FILL
	_input.placeholder_text = "Message, or /w Name text"
	_input.text_submitted.connect(_on_submit)
	bottom.add_child(_input)
	var send := Button.new()
	send.text = "Send"
	send.pressed.connect(func() -> void: _on_submit(_input.text))
	bottom.add_child(send)


## One "E2E {json}" line per event (read by the end-to-end test).
func report(event: String, fields: Dictionary = {}) -> void:
	var record := fields.duplicate()
	record["event"] = event
	record["tag"] = player_name
	print("E2E ", JSON.stringify(record))


func _show(text: String, event: String = "", fields: Dictionary = {}) -> void:
	_log.append_text(text + "\n")
	if event != "":
		report(event, fields)


func _on_connected() -> void:
	_status.text = "Connected as %s (id %d)" % [player_name, multiplayer.get_unique_id()]
	report("connected", {"peer": 1, "id": multiplayer.get_unique_id()})
	join.rpc_id(1, player_name)


func _on_authenticating(id: int) -> void:
	var mp := multiplayer as SceneMultiplayer
	mp.send_auth(id, secret.to_utf8_buffer())
	mp.complete_auth(id)


func _on_auth_data(_id: int, data: PackedByteArray) -> void:
	_show("Server says: " + data.get_string_from_utf8(), "auth_data")


func _on_server_disconnected() -> void:
	_status.text = "Disconnected"
	_show("The server closed the connection.", "server_disconnected")
	if auto_expect > 0:
		_quit(0 if _auto_done else 1, "server_disconnected")


func _on_submit(text: String) -> void:
	text = text.strip_edges()
	_input.clear()
	if text == "":
		return
	if text.begins_with("/w "):
		var parts := text.substr(3).split(" ", true, 1)
		for id in players:
			if players[id] == parts[0] and parts.size() == 2:
				whisper.rpc_id(id, parts[1])
				_show("[to %s] %s" % [parts[0], parts[1]])
				return
		_show("Nobody called %s here." % parts[0])
		return
	say.rpc_id(1, text)


func _maybe_automate() -> void:
	if _auto_done or auto_players <= 0 or players.size() < auto_players:
		return
	_auto_done = true
	if auto_say != "":
		say.rpc_id(1, auto_say)
	if auto_whisper != "":
		for id in players:
			if id != multiplayer.get_unique_id():
				whisper.rpc_id(id, auto_whisper)
	report("automated", {"players": players.size()})


func _count_chat_line() -> void:
	_chat_lines += 1
	if auto_expect > 0 and _chat_lines >= auto_expect:
		_quit(0, "done")


func _quit(code: int, why: String) -> void:
	if _quitting:
		return
	_quitting = true
	report("exit", {"code": code, "why": why, "lines": _chat_lines})
	get_tree().quit(code)


# -- the protocol (the Python server reads these declarations) -------------------------------

## Client -> server: join the lobby under a name.
@rpc("any_peer")
func join(_player_name: String) -> void:
	pass  # Runs on the server only.


## Client -> server: a message for everyone.
@rpc("any_peer")
func say(_text: String) -> void:
	pass  # Runs on the server only.


## Client -> client, through the server's relay: the server never sees the call.
@rpc("any_peer")
func whisper(text: String) -> void:
	var from := multiplayer.get_remote_sender_id()
	var who: String = players.get(from, "peer %d" % from)
	_show("[%s whispers] %s" % [who, text], "whisper", {"from": from, "name": who, "text": text})
	_count_chat_line()


## Server -> clients: everyone in the lobby, peer id -> name.
@rpc
func lobby(new_players: Dictionary) -> void:
	players = new_players
	_list.clear()
	for id in players:
		_list.add_item(players[id] + (" (you)" if id == multiplayer.get_unique_id() else ""))
	report("lobby", {"players": players.values()})
	_maybe_automate()


## Server -> clients: a chat line (from_id 1 is the server itself).
@rpc
func message(from_id: int, from_name: String, text: String) -> void:
	_show("%s: %s" % [from_name, text], "message",
			{"from": from_id, "name": from_name, "text": text})
	if from_id != 1 and from_id != multiplayer.get_unique_id():
		_count_chat_line()


## Server -> one client: the join was refused (name taken or invalid).
@rpc
func rejected(reason: String) -> void:
	_show("Refused: " + reason, "rejected", {"reason": reason})
