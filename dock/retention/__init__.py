"""Issue 14: how long footage lives, holds that outlive any period, the one purge, audits."""
