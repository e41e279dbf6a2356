"""Topic families: each module alone knows its topic's name, partitions, key and schema."""
