"""Lab-only stand-ins for SONiC's own plumbing (docs/concepts.md#lab): the base CONFIG_DB a switch boots
with, its `database_config.json`, and the process that turns CONFIG_DB into namespaces and devices the
way SONiC's managers turn it into kernel devices.  Never imported by `fabric/`."""
