"""``unifier agent``: serves a zone's instances from inside the zone, connecting only
outward to the control plane (:mod:`.runner`); its durable state lives in a SQLite file
in its state directory (:mod:`.store`); it speaks HTTP through :mod:`.client`."""
