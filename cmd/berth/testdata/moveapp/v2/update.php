<?php
// The update step of build 2 (the platform's update: command), run by
// berth as the site's user with BERTH_SETTINGS set: it changes the schema
// build 2 needs and records each run in the table updates.
$env = [];
foreach (file(getenv('BERTH_SETTINGS'), FILE_IGNORE_NEW_LINES) as $line) {
    if (preg_match("/^([A-Z_]+)='(.*)'$/", $line, $m)) {
        $env[$m[1]] = $m[2];
    }
}
$db = new PDO("mysql:host={$env['DB_HOST']};port={$env['DB_PORT']};dbname={$env['DB_NAME']}", $env['DB_USER'], $env['DB_PASSWORD']);
$db->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
$db->exec('CREATE TABLE IF NOT EXISTS updates (id INT AUTO_INCREMENT PRIMARY KEY, at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)');
$cols = $db->query("SHOW COLUMNS FROM visits LIKE 'note'")->fetchAll();
if (!$cols) {
    $db->exec("ALTER TABLE visits ADD COLUMN note VARCHAR(32) NOT NULL DEFAULT ''");
}
$db->exec('INSERT INTO updates () VALUES ()');
echo "schema updated for build 2\n";
