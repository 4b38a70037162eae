<?php
// The PHP platform's front controller. Sites on it get their settings
// (SITE_DOMAIN, DB_*) from the environment berth writes into their pool.
echo "Hello from ", htmlspecialchars($_SERVER["HTTP_HOST"] ?? "?"), "\n";
