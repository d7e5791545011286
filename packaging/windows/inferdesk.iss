; Inno Setup script for InferDesk on Windows (x64). NOT BUILT OR TESTED in this repository's CI, which
; runs on Linux; .github/workflows/release.yml is the recipe that would build it on a Windows runner:
;
;   pip install -e . "pyinstaller>=6.10"
;   pyinstaller --noconfirm --clean build.spec          -> dist\inferdesk\ (inferdesk.exe + inferdeskw.exe)
;   dist\inferdesk\inferdesk.exe --self-test
;   iscc /DAppVersion=0.1.0 packaging\windows\inferdesk.iss   -> dist\InferDesk-0.1.0-setup.exe
;
; Installs per machine (or per user, if the administrator chooses so in the dialog), adds a Start menu
; entry, associates .onnx files with InferDesk, and removes all of it on uninstall.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#define AppName "InferDesk"
#define Bundle "..\..\dist\inferdesk"

[Setup]
AppId={{6F0F5D2E-3C1B-4C7E-9F57-1D0B8D7A4E21}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=InferDesk
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
ChangesAssociations=yes
Compression=lzma2/max
SolidCompression=yes
OutputDir=..\..\dist
OutputBaseFilename=InferDesk-{#AppVersion}-setup
SetupIconFile=..\..\resources\icons\inferdesk.ico
UninstallDisplayIcon={app}\inferdeskw.exe
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "associate"; Description: "Open .onnx models with InferDesk"; GroupDescription: "File types:"

[Files]
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\inferdeskw.exe"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\inferdeskw.exe"; Tasks: desktopicon

[Registry]
Root: HKA; Subkey: "Software\Classes\.onnx\OpenWithProgids"; ValueType: string; ValueName: "InferDesk.onnx"; ValueData: ""; Flags: uninsdeletevalue; Tasks: associate
Root: HKA; Subkey: "Software\Classes\InferDesk.onnx"; ValueType: string; ValueName: ""; ValueData: "ONNX model"; Flags: uninsdeletekey; Tasks: associate
Root: HKA; Subkey: "Software\Classes\InferDesk.onnx\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\inferdeskw.exe,0"; Tasks: associate
Root: HKA; Subkey: "Software\Classes\InferDesk.onnx\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\inferdeskw.exe"" gui ""%1"""; Tasks: associate
Root: HKA; Subkey: "Software\Classes\Applications\inferdeskw.exe\SupportedTypes"; ValueType: string; ValueName: ".onnx"; ValueData: ""; Flags: uninsdeletekey

[Run]
Filename: "{app}\inferdesk.exe"; Parameters: "--self-test"; StatusMsg: "Checking the installation..."; Flags: runhidden
Filename: "{app}\inferdeskw.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
