extends Node
## Entry point of the demo and of the end-to-end tests: runs one client scenario and quits.
##
## The scenario comes from the command-line user arguments, the ones after "--"
## ([method OS.get_cmdline_user_args]), each written [code]--name=value[/code]:
## [codeblock]
## godot --headless --path godot_demo -- --url=ws://127.0.0.1:9080 --scenario=basic
## [/codeblock]
## [br]- [code]--url[/code]: server URL (default ws://127.0.0.1:9080).
## [br]- [code]--scenario[/code]: one of [constant SCENARIOS] (default "basic").
## [br]- [code]--tag[/code]: name copied into every record and packet (default "client").
## [br]- [code]--timeout[/code]: seconds before giving up with exit code 3 (default 20).
## [br]- [code]--send[/code], [code]--expect[/code], [code]--size[/code], [code]--then[/code],
## [code]--transport[/code]: override the scenario's settings (see client.gd).
##
## The program always quits with an exit code: 0 success, 1 failure, 2 create_client() error,
## 3 timeout, 4 connection failed, 5 bad arguments.

## Each scenario is a set of client settings; command-line arguments can override them.
const SCENARIOS := {
	# Connect, send 3 raw packets, expect 3 packets back (an echo server), quit.
	"basic": {"transport": "raw", "send": 3, "expect": 3, "then": "quit"},
	# Connect, send nothing, wait for 1 packet (a broadcast), quit.
	"broadcast": {"transport": "raw", "send": 0, "expect": 1, "then": "quit"},
	# Connect, send 1 packet, wait for 1 packet, then close() the peer (--then=wait_disconnect:
	# wait for the server to close instead).
	"disconnect": {"transport": "raw", "send": 1, "expect": 1, "then": "close"},
	# Like basic, but through SceneMultiplayer.send_bytes(..., 1) and peer_packet.
	"scene_bytes": {"transport": "scene", "send": 2, "expect": 2, "then": "quit"},
}
const Client := preload("res://client.gd")
const INT_SETTINGS := {"send": "send_count", "expect": "expect_count", "size": "packet_size"}
const DEFAULT_TIMEOUT := 20.0

@onready var client: Client = $Client

var _quitting := false


func _ready() -> void:
	client.finished.connect(_on_client_finished)
	var args := parse_user_args(OS.get_cmdline_user_args())
	client.tag = args.get("tag", "client")
	client.url = args.get("url", client.url)

	var scenario: String = args.get("scenario", "basic")
	if not SCENARIOS.has(scenario):
		_fail_args("unknown scenario %s (known: %s)" % [scenario, ", ".join(SCENARIOS.keys())])
		return
	var settings: Dictionary = SCENARIOS[scenario].duplicate()
	for key in ["transport", "send", "expect", "size", "then"]:
		if args.has(key):
			settings[key] = args[key]
	client.transport = str(settings["transport"])
	client.then_action = str(settings["then"])
	for key in INT_SETTINGS:
		var text := str(settings.get(key, 0))
		if not text.is_valid_int():
			_fail_args("--%s must be an integer, got %s" % [key, text])
			return
		client.set(INT_SETTINGS[key], text.to_int())

	var timeout := DEFAULT_TIMEOUT
	if args.has("timeout"):
		if not str(args["timeout"]).is_valid_float():
			_fail_args("--timeout must be a number, got %s" % args["timeout"])
			return
		timeout = str(args["timeout"]).to_float()
	# A real-time timer that also runs while paused: the engine never hangs.
	get_tree().create_timer(timeout, true, false, true).timeout.connect(_on_timeout)

	client.report("start", {
		"scenario": scenario,
		"args": Array(OS.get_cmdline_user_args()),
		"engine": Engine.get_version_info()["string"],
		"timeout": timeout,
	})
	client.start()


## Turn ["--a=1", "--flag"] into {"a": "1", "flag": "true"}; other words are ignored.
static func parse_user_args(user_args: PackedStringArray) -> Dictionary:
	var parsed := {}
	for arg in user_args:
		if not arg.begins_with("--"):
			continue
		var pair := arg.substr(2).split("=", true, 1)
		parsed[pair[0]] = pair[1] if pair.size() > 1 else "true"
	return parsed


func _fail_args(message: String) -> void:
	client.report("error", {"message": message})
	_quit(Client.EXIT_BAD_ARGS)


func _on_timeout() -> void:
	client.abort("scenario did not finish in time")


func _on_client_finished(exit_code: int) -> void:
	_quit(exit_code)


func _quit(exit_code: int) -> void:
	if _quitting:
		return
	_quitting = true
	client.report("exit", {"code": exit_code})
	get_tree().quit(exit_code)
