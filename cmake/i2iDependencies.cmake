# The libraries the engine links. They are implementation details of libi2i.so (linked PRIVATE), but
# whoever links the static libi2i.a must link them too. So this one file serves both the build
# (CMakeLists.txt) and the installed CMake package (i2iConfig.cmake, for the i2i::i2i_static target).
#
# Everything is searched for QUIETly; the caller decides what a missing library means (the build stops,
# the installed package leaves i2i::i2i_static out). Sets:
#   I2I_DEPENDENCY_TARGETS  the targets to link
#   I2I_DEPENDENCIES_FOUND  TRUE when all of them were found
#   I2I_DEPENDENCIES_MISSING  what was not found

find_package(PkgConfig QUIET)
# The engine is C++ with OpenMP: only the CXX flavour is wanted (a consumer project linking libi2i.a must
# have CXX enabled, since the C++ runtime comes with it).
find_package(OpenMP QUIET COMPONENTS CXX)
find_package(PNG QUIET)
find_package(JPEG QUIET)
find_package(CURL QUIET)
find_package(ICU QUIET COMPONENTS uc i18n)
find_package(yaml-cpp QUIET)  # LDM .yaml configs (models/ldm_yaml.cpp)
find_package(OpenSSL QUIET COMPONENTS Crypto)  # SHA-256 of model files (io/file_hash.cpp)
if(PkgConfig_FOUND)
  # Prefixed names, so that a consumer's own pkg_check_modules(WEBP ...) is not overwritten.
  pkg_check_modules(I2I_WEBP QUIET IMPORTED_TARGET libwebp libwebpdemux)
  pkg_check_modules(I2I_EXIF QUIET IMPORTED_TARGET libexif)
endif()

# Debian's oneDNN CMake package insists on OpenCL headers (it is built with a GPU runtime we do not use),
# so the CPU library is found directly and wrapped in an imported target of our own.
find_library(I2I_DNNL_LIBRARY NAMES dnnl)
find_path(I2I_DNNL_INCLUDE_DIR dnnl.hpp)
if(I2I_DNNL_LIBRARY AND I2I_DNNL_INCLUDE_DIR AND NOT TARGET i2i_deps::dnnl)
  add_library(i2i_deps::dnnl UNKNOWN IMPORTED)
  set_target_properties(i2i_deps::dnnl PROPERTIES
    IMPORTED_LOCATION "${I2I_DNNL_LIBRARY}" INTERFACE_INCLUDE_DIRECTORIES "${I2I_DNNL_INCLUDE_DIR}")
endif()

set(I2I_DEPENDENCY_TARGETS i2i_deps::dnnl OpenMP::OpenMP_CXX PNG::PNG JPEG::JPEG CURL::libcurl ICU::uc ICU::i18n
  PkgConfig::I2I_WEBP PkgConfig::I2I_EXIF yaml-cpp OpenSSL::Crypto)
set(I2I_DEPENDENCIES_MISSING "")
foreach(target IN LISTS I2I_DEPENDENCY_TARGETS)
  if(NOT TARGET ${target})
    list(APPEND I2I_DEPENDENCIES_MISSING ${target})
  endif()
endforeach()
if(I2I_DEPENDENCIES_MISSING)
  set(I2I_DEPENDENCIES_FOUND FALSE)
else()
  set(I2I_DEPENDENCIES_FOUND TRUE)
endif()
