<?php echo "php-app on ", htmlspecialchars($_SERVER["HTTP_HOST"] ?? "?"), "\n";
