"""How long footage lives, holds that outlive any period, the one purge, audits."""
