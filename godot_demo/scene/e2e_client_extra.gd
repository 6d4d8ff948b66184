extends "res://scene/e2e_client.gd"
## The e2e client with one more @rpc method than the Python declarations (read from
## e2e_client.gd): every method id shifts by one, and the RPC checksum differs.


@rpc("any_peer")
func added_later() -> void:
	report("added_later")
